// vsgt-lab: the SAN lab, a vCenter SOAP endpoint (govmomi simulator) with a real SAN behind it and an
// HTTP control API to inject faults. README.md is the contract: flags, state file, control API.
package main

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

// Lab is the running lab: the SAN model, the simulator objects it drives, the fault bookkeeping.
type Lab struct {
	san      *san
	model    *simulator.Model
	ctx      *simulator.Context
	dc       *simulator.Datacenter
	vmFolder *simulator.Folder
	tmp      string // every temporary file of the lab lives below this folder

	ctlMu   sync.Mutex // serialises control API mutations
	touched *change    // what faults touched since the last restore (guarded by san.mu)

	sequential bool // build the VMs one by one (stable morefs for a journal's restart)
}

type options struct {
	topology  string
	hosts     int
	vms       int
	latencyMS int
	plainHTTP bool
	listen    string
	control   string
	stateFile string
	tlsDir    string
	username  string
	password  string
	readonly  string // "NAME:PASSWORD" of the read-only user
	journal   string
	timing    vcTiming // task_timing.go
}

func main() {
	var o options
	flag.StringVar(&o.topology, "topology", "", "topology JSON file (default: the embedded topology.json)")
	flag.IntVar(&o.hosts, "hosts", 0, "scale: number of hosts (clusters of up to 32)")
	flag.IntVar(&o.vms, "vms", 0, "scale: number of VMs spread over the hosts")
	flag.IntVar(&o.latencyMS, "latency-ms", 0, "added latency per SOAP call, in milliseconds")
	flag.BoolVar(&o.plainHTTP, "http", false, "serve plain http instead of https")
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "SOAP endpoint address (port 0: any free port)")
	flag.StringVar(&o.control, "control", "127.0.0.1:0", "control API address (port 0: any free port)")
	flag.StringVar(&o.stateFile, "state-file", "", "write connection details here once ready; removed on exit")
	flag.StringVar(&o.tlsDir, "tls-dir", "", "where to write cert.pem and key.pem (default: a temporary folder)")
	flag.StringVar(&o.username, "username", "user", "login user name")
	flag.StringVar(&o.password, "password", "pass", "login password")
	flag.StringVar(&o.readonly, "readonly-user", "readonly:readonly", "NAME:PASSWORD of a user with vCenter's ReadOnly role (\"\": none)")
	flag.StringVar(&o.journal, "journal", "", "keep vCenter's state in this file and replay it at start (restart)")
	o.timing = vcDefaultTiming
	flag.BoolVar(&o.timing.Enabled, "timing", o.timing.Enabled, "tasks take time and queue as on vCenter (false: done at once)")
	flag.IntVar(&o.timing.ReconfigureMS, "reconfigure-ms", o.timing.ReconfigureMS, "with --timing: how long a ReconfigVM_Task runs")
	flag.IntVar(&o.timing.VMotionMS, "vmotion-ms", o.timing.VMotionMS, "with --timing: how long a vMotion runs")
	flag.IntVar(&o.timing.SVMotionMS, "svmotion-ms", o.timing.SVMotionMS, "with --timing: how long a Storage vMotion runs")
	flag.Parse()
	if pw := os.Getenv("VSGT_LAB_PASSWORD"); pw != "" && !flagSet("password") {
		o.password = pw // from the environment: a password on the command line is in every process list
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("vsgt-lab ")
	if err := run(o); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

type stateDoc struct {
	URL        string  `json:"url"`
	Username   string  `json:"username"`
	Password   string  `json:"password"`
	Control    string  `json:"control"`
	PID        int     `json:"pid"`
	Cert       string  `json:"cert"`
	Thumbprint string  `json:"thumbprint"`
	Hosts      int     `json:"hosts"`
	VMs        int     `json:"vms"`
	StartedInS float64 `json:"started_in_s"`

	ReadonlyUsername string `json:"readonly_username,omitempty"`
	ReadonlyPassword string `json:"readonly_password,omitempty"`
	Journal          string `json:"journal,omitempty"`
	Replayed         int    `json:"replayed,omitempty"`
}

func run(o options) (err error) {
	start := time.Now()
	// the lab works in its temporary folder (see datastoreURL): every path given must be absolute first
	for _, p := range []*string{&o.topology, &o.stateFile, &o.tlsDir, &o.journal} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return err
			}
		}
	}
	var roUser, roPassword string
	if o.readonly != "" {
		i := strings.IndexByte(o.readonly, ':')
		if i <= 0 || i == len(o.readonly)-1 {
			return fmt.Errorf("--readonly-user must be NAME:PASSWORD")
		}
		roUser, roPassword = o.readonly[:i], o.readonly[i+1:]
		if roUser == o.username {
			return fmt.Errorf("--readonly-user %s is the administrator's name", roUser)
		}
	}
	if o.username == "" || o.password == "" {
		return fmt.Errorf("--username and --password must not be empty")
	}
	if err = o.timing.validate(); err != nil {
		return fmt.Errorf("timing flags: %v", err)
	}
	vcSetStartTiming(o.timing)
	vcSetLogins(o.username, o.password, roUser, roPassword)
	removeStale(tempRoot())
	tmp, err := labTempDir(o.journal)
	if err != nil {
		return err
	}
	_ = os.WriteFile(filepath.Join(tmp, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		cleanups = nil
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(tmp) })
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	// the simulator's own temporary files (VM logs, certificates) go below our folder too
	_ = os.Setenv("TMPDIR", tmp)
	// datastore URLs are vCenter's ds:///vmfs/volumes/<uuid>/, which the simulator's file code
	// reads as a relative path: relative to this folder (inventory.go, datastoreURL)
	if err = os.Chdir(tmp); err != nil {
		return err
	}

	topo, err := loadTopology(o.topology)
	if err != nil {
		return err
	}
	if o.hosts > 0 || o.vms > 0 {
		if err = topo.scale(o.hosts, o.vms); err != nil {
			return err
		}
	}
	s, err := newSAN(topo)
	if err != nil {
		return err
	}
	// with a journal the VMs are built one by one: their morefs must be the same at every start
	lab := &Lab{san: s, tmp: tmp, touched: newChange(), sequential: o.journal != ""}
	gc := debug.SetGCPercent(300) // building allocates a lot that stays: collect less often meanwhile
	err = lab.buildInventory()
	debug.SetGCPercent(gc)
	if err != nil {
		return err
	}
	if len(s.vms) > 1000 {
		debug.FreeOSMemory() // give back the garbage of the build before serving
	}
	cleanups = append(cleanups, func() { lab.model.Remove() })
	log.Printf("inventory: %d hosts, %d datastores, %d VMs in %.1fs", len(s.hosts), len(s.datastores), len(s.vms),
		time.Since(start).Seconds())

	// the SOAP methods the lab answers itself, routed before the server is made (dispatch.go)
	installVCenterFixes(lab.ctx, lab.model)
	replayed := 0
	if o.journal != "" {
		// vCenter's state of the last run, before anything serves (journal.go)
		if replayed, err = lab.replayJournal(o.journal); err != nil {
			return err
		}
		cleanups = append(cleanups, func() { vcJournal.close() })
	}

	svc := lab.model.Service
	// the simulator accepts any login; the lab checks them itself (session_manager.go)
	svc.Listen = &url.URL{Host: o.listen, User: simulator.DefaultLogin}
	var certFile, thumbprint string
	var pool *x509.CertPool
	if !o.plainHTTP {
		dir := o.tlsDir
		if dir == "" {
			dir = filepath.Join(tmp, "tls")
		} else if _, statErr := os.Stat(dir); os.IsNotExist(statErr) && o.journal == "" {
			// with a journal the certificate stays for the restart, as vCenter's does
			cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
		}
		cert, der, cf, cerr := writeCertificate(dir)
		if cerr != nil {
			return cerr
		}
		certFile, thumbprint = cf, sha1Thumbprint(der)
		svc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		parsed, _ := x509.ParseCertificate(der)
		pool = x509.NewCertPool()
		pool.AddCert(parsed)
	}
	srv, err := newServer(svc)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, srv.Close)
	// the lab's SOAP methods also for clients that use another host name (dispatch.go)
	srv.Config.Handler = withVCenterFixes(srv.Config.Handler)
	srv.Config.Handler = withLatency(srv.Config.Handler, time.Duration(o.latencyMS)*time.Millisecond)
	endpoint := *srv.URL
	endpoint.User = nil

	ln, err := net.Listen("tcp", o.control)
	if err != nil {
		return fmt.Errorf("control API: %v", err)
	}
	ctl := &http.Server{Handler: lab.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ctl.Serve(ln) }()
	cleanups = append(cleanups, func() { _ = ctl.Close() })
	controlURL := "http://" + ln.Addr().String()

	// ready when the SOAP endpoint answers over its own TLS
	if err = waitReady(endpoint, pool); err != nil {
		return err
	}
	doc := stateDoc{
		URL: endpoint.String(), Username: o.username, Password: o.password, Control: controlURL,
		PID: os.Getpid(), Cert: certFile, Thumbprint: thumbprint, Hosts: len(s.hosts), VMs: len(s.vms),
		StartedInS:       float64(time.Since(start).Milliseconds()) / 1000,
		ReadonlyUsername: roUser, ReadonlyPassword: roPassword, Journal: o.journal, Replayed: replayed,
	}
	if o.stateFile != "" {
		if err = writeAtomic(o.stateFile, doc); err != nil {
			return err
		}
		sf := o.stateFile
		cleanups = append(cleanups, func() { _ = os.Remove(sf) })
	}
	log.Printf("ready in %.2fs: %s (control %s)", doc.StartedInS, doc.URL, controlURL)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	got := <-sig
	log.Printf("%s: shutting down", got)
	cleanup()
	return nil
}

// newServer is svc.NewServer, whose failure to listen (the port taken) is a panic.
func newServer(svc *simulator.Service) (srv *simulator.Server, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("SOAP endpoint: %v", p)
		}
	}()
	return svc.NewServer(), nil
}

// tempRoot prefers a tmpfs: the simulator keeps every VM's files on disk, and creating ~100k files
// for a scaled lab on an ordinary file system costs most of the start time.
func tempRoot() string {
	if d := os.Getenv("VSGT_LAB_TMP"); d != "" {
		return d
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", ".vsgt-lab-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// removeStale deletes the temporary folders of labs that died without cleaning up (SIGKILL): on
// a tmpfs they would hold memory until reboot.
func removeStale(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, "vsgt-lab-*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue // not ours, or still being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			continue
		}
		if !alive(pid) {
			log.Printf("removing %s of lab %d, which is gone", dir, pid)
			_ = os.RemoveAll(dir)
		}
	}
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	if i := strings.LastIndex(string(stat), ") "); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' // a zombie is dead
	}
	return true
}

func waitReady(endpoint url.URL, pool *x509.CertPool) error {
	client := &http.Client{Timeout: 5 * time.Second}
	if pool != nil {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	}
	u := endpoint
	u.Path = "/about"
	var lastErr error
	for i := 0; i < 100; i++ {
		res, err := client.Get(u.String())
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", res.Status)
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the SOAP endpoint did not answer: %v", lastErr)
}

func writeAtomic(path string, v interface{}) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".state-*.json")
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// flagSet tells whether a flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// labTempDir makes the lab's temporary folder. With a journal its name is derived from the journal's path,
// so a restarted lab has the same folder, and a second lab on the same journal is refused.
func labTempDir(journal string) (string, error) {
	if journal == "" {
		return os.MkdirTemp(tempRoot(), "vsgt-lab-")
	}
	abs, err := filepath.Abs(journal)
	if err != nil {
		return "", err
	}
	sum := sha1.Sum([]byte(abs))
	dir := filepath.Join(tempRoot(), fmt.Sprintf("vsgt-lab-j%x", sum[:6]))
	if data, err := os.ReadFile(filepath.Join(dir, "owner.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid != os.Getpid() && alive(pid) {
			return "", fmt.Errorf("another lab (pid %d) runs with the journal %s", pid, abs)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.Mkdir(dir, 0o700)
}
