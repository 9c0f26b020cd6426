package main

// A VM's files on its datastores, as a Storage vMotion moves them: the disks and their snapshot
// delta chains, the datastore each backing lives on, the "[datastore] path" names a relocation
// rewrites, and the simulator's files on the lab's disk that follow the move (best effort).

import (
	"io"
	"io/ioutil"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// --- storage bookkeeping ----------------------------------------------------------------------

func vcDisks(vm *simulator.VirtualMachine) []*types.VirtualDisk {
	var disks []*types.VirtualDisk
	if vm.Config == nil {
		return nil
	}
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			disks = append(disks, disk)
		}
	}
	return disks
}

func vcDiskByKey(vm *simulator.VirtualMachine, key int32) *types.VirtualDisk {
	for _, d := range vcDisks(vm) {
		if d.Key == key {
			return d
		}
	}
	return nil
}

// vcDatastoreByName finds a datastore by name, preferring the VM's own and its datacenter's.
func vcDatastoreByName(name string, vm *simulator.VirtualMachine) *simulator.Datastore {
	for _, ref := range vm.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == name {
			return ds
		}
	}
	dc := vcAncestor(vm.Self, "Datacenter")
	var found *simulator.Datastore
	for _, e := range simulator.Map.All("Datastore") {
		ds, ok := e.(*simulator.Datastore)
		if !ok || ds.Name != name {
			continue
		}
		if dc != nil {
			if d := vcAncestor(ds.Self, "Datacenter"); d != nil && *d == *dc {
				return ds
			}
		}
		if found == nil {
			found = ds
		}
	}
	return found
}

// vcChain returns a disk's backing chain (the disk's own backing first, then its snapshot parents).
func vcChain(b types.BaseVirtualDeviceBackingInfo) []types.BaseVirtualDeviceBackingInfo {
	var chain []types.BaseVirtualDeviceBackingInfo
	for b != nil && len(chain) < 256 {
		chain = append(chain, b)
		parent := reflect.ValueOf(b).Elem().FieldByName("Parent")
		if !parent.IsValid() || parent.IsNil() {
			break
		}
		b = parent.Interface().(types.BaseVirtualDeviceBackingInfo)
	}
	return chain
}

func vcFileBacking(b types.BaseVirtualDeviceBackingInfo) *types.VirtualDeviceFileBackingInfo {
	if fb, ok := b.(types.BaseVirtualDeviceFileBackingInfo); ok {
		return fb.GetVirtualDeviceFileBackingInfo()
	}
	return nil
}

// vcBackingDatastore: backing.datastore, or the datastore named in fileName.
func vcBackingDatastore(vm *simulator.VirtualMachine, fb *types.VirtualDeviceFileBackingInfo) *types.ManagedObjectReference {
	if fb.Datastore != nil {
		return fb.Datastore
	}
	var p object.DatastorePath
	if p.FromString(fb.FileName) {
		if ds := vcDatastoreByName(p.Datastore, vm); ds != nil {
			ref := ds.Self
			return &ref
		}
	}
	return nil
}

func vcHomeDatastore(vm *simulator.VirtualMachine) *simulator.Datastore {
	if vm.Config == nil {
		return nil
	}
	var p object.DatastorePath
	if !p.FromString(vm.Config.Files.VmPathName) {
		return nil
	}
	return vcDatastoreByName(p.Datastore, vm)
}

// vcFinalDatastores lists the datastores the VM uses once placed as p (home and disk chains).
func vcFinalDatastores(vm *simulator.VirtualMachine, p *vcPlacement) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	add := func(ref *types.ManagedObjectReference) {
		if ref != nil && simulator.FindReference(out, *ref) == nil {
			out = append(out, *ref)
		}
	}
	if p.homeDS != nil {
		ref := p.homeDS.Self
		add(&ref)
	} else if home := vcHomeDatastore(vm); home != nil {
		ref := home.Self
		add(&ref)
	}
	for _, disk := range vcDisks(vm) {
		if ds, ok := p.diskDS[disk.Key]; ok {
			ref := ds.Self
			add(&ref)
			continue
		}
		for _, b := range vcChain(disk.Backing) {
			if fb := vcFileBacking(b); fb != nil {
				add(vcBackingDatastore(vm, fb))
			}
		}
	}
	return out
}

// vcPathMover rewrites "[ds] path" names and records the files to move on disk.
type vcPathMover struct {
	exact  map[string]string // "[old] dir/disk.vmdk" (and extents) -> "[new] dir/disk.vmdk"
	homeIn string            // "[old] vmdir/" prefix of the VM home, "" if the home stays
	homeTo string            // "[new] vmdir/"
	rootIn string            // "[old] " when the home moves: the simulator lists some home files
	rootTo string            // at the datastore root in layoutEx ("[ds] vm.nvram"); they go too
	keep   map[string]bool   // known files that stay (disks not moving that live in the home dir)
}

var vcDiskExtents = []string{"-flat", "-delta", "-sesparse", "-ctk", "-rdm", "-rdmp", "-s001"}

func (m *vcPathMover) addDiskFile(from, to string) {
	m.exact[from] = to
	if strings.HasSuffix(from, ".vmdk") && strings.HasSuffix(to, ".vmdk") {
		f, t := strings.TrimSuffix(from, ".vmdk"), strings.TrimSuffix(to, ".vmdk")
		for _, x := range vcDiskExtents {
			m.exact[f+x+".vmdk"] = t + x + ".vmdk"
		}
	}
}

func (m *vcPathMover) keepDiskFile(name string) {
	m.keep[name] = true
	if strings.HasSuffix(name, ".vmdk") {
		f := strings.TrimSuffix(name, ".vmdk")
		for _, x := range vcDiskExtents {
			m.keep[f+x+".vmdk"] = true
		}
	}
}

func (m *vcPathMover) move(name string) string {
	if to, ok := m.exact[name]; ok {
		return to
	}
	if m.homeIn != "" && !m.keep[name] && strings.HasPrefix(name, m.homeIn) {
		return m.homeTo + strings.TrimPrefix(name, m.homeIn)
	}
	if m.rootIn != "" && !m.keep[name] && strings.HasPrefix(name, m.rootIn) && !strings.Contains(strings.TrimPrefix(name, m.rootIn), "/") {
		return m.rootTo + strings.TrimPrefix(name, m.rootIn)
	}
	return name
}

// moveDir rewrites a "[ds] dir" directory of the VM home (config.files.*).
func (m *vcPathMover) moveDir(name string) string {
	if m.homeIn == "" || name == "" {
		return name
	}
	in := strings.TrimSuffix(m.homeIn, "/")
	if name == in || strings.HasPrefix(name, m.homeIn) {
		return strings.TrimSuffix(m.homeTo, "/") + strings.TrimPrefix(name, in)
	}
	return m.move(name)
}

func vcRewritePath(name string, ds *simulator.Datastore) string {
	var p object.DatastorePath
	if !p.FromString(name) {
		return name
	}
	p.Datastore = ds.Name
	return p.String()
}

// vcCloneBacking copies a backing chain, giving each file backing the name and datastore f says
// (the originals may be shared with snapshot configs and must not change under them).
func vcCloneBacking(b types.BaseVirtualDeviceBackingInfo, f func(fb *types.VirtualDeviceFileBackingInfo)) types.BaseVirtualDeviceBackingInfo {
	if b == nil {
		return nil
	}
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Ptr || v.IsNil() {
		return b
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	cb := c.Interface().(types.BaseVirtualDeviceBackingInfo)
	if fb := vcFileBacking(cb); fb != nil {
		f(fb)
	}
	if parent := c.Elem().FieldByName("Parent"); parent.IsValid() && !parent.IsNil() {
		pb := vcCloneBacking(parent.Interface().(types.BaseVirtualDeviceBackingInfo), f)
		parent.Set(reflect.ValueOf(pb))
	}
	return cb
}

// vcRewriteDevices returns a new device list with every disk's chain renamed through m.
func vcRewriteDevices(devices []types.BaseVirtualDevice, vm *simulator.VirtualMachine, m *vcPathMover) []types.BaseVirtualDevice {
	out := make([]types.BaseVirtualDevice, 0, len(devices))
	for _, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			out = append(out, d)
			continue
		}
		changed := false
		for _, b := range vcChain(disk.Backing) {
			if fb := vcFileBacking(b); fb != nil && m.move(fb.FileName) != fb.FileName {
				changed = true
			}
		}
		if !changed {
			out = append(out, d)
			continue
		}
		nd := *disk
		nd.Backing = vcCloneBacking(disk.Backing, func(fb *types.VirtualDeviceFileBackingInfo) {
			to := m.move(fb.FileName)
			if to == fb.FileName {
				return
			}
			fb.FileName = to
			var p object.DatastorePath
			if p.FromString(to) {
				if ds := vcDatastoreByName(p.Datastore, vm); ds != nil {
					ref := ds.Self
					fb.Datastore = &ref
				}
			}
		})
		out = append(out, &nd)
	}
	return out
}

// --- files on disk ----------------------------------------------------------------------------

// vcLocalDir is a datastore's folder on the lab's disk, "" if it has none.
func vcLocalDir(ds *simulator.Datastore) string {
	if ds == nil || ds.Info == nil {
		return ""
	}
	// the url (ds:///vmfs/volumes/<uuid>/) is a folder relative to the lab's working folder
	dir, err := filepath.Abs(filepath.Clean(ds.Info.GetDatastoreInfo().Url))
	if err != nil {
		return ""
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	return dir
}

// vcMoveFiles moves the VM's files between the datastores' folders, best effort: the lab's
// datastores may have no folder, and a move never fails the relocation.
func vcMoveFiles(vm *simulator.VirtualMachine, m *vcPathMover) {
	local := func(name string) string {
		var p object.DatastorePath
		if !p.FromString(name) || p.Path == "" {
			return ""
		}
		dir := vcLocalDir(vcDatastoreByName(p.Datastore, vm))
		if dir == "" {
			return ""
		}
		return filepath.Join(dir, filepath.FromSlash(p.Path))
	}
	moved := map[string]bool{}
	moveOne := func(from, to string) {
		if from == to || moved[from] {
			return
		}
		src, dst := local(from), local(to)
		if src == "" || dst == "" || src == dst {
			return
		}
		if st, err := os.Stat(src); err != nil || !st.Mode().IsRegular() {
			return
		}
		moved[from] = true
		_ = os.MkdirAll(filepath.Dir(dst), 0o700)
		if err := os.Rename(src, dst); err == nil {
			return
		}
		if vcCopyFile(src, dst) == nil {
			_ = os.Remove(src)
		}
	}
	for from, to := range m.exact {
		moveOne(from, to)
	}
	if m.homeIn == "" {
		return
	}
	// Everything else in the VM home folder goes with the home.
	homeDir := local(strings.TrimSpace(strings.TrimSuffix(m.homeIn, "/")))
	if homeDir == "" {
		return
	}
	entries, err := ioutil.ReadDir(homeDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Mode().IsRegular() {
			continue
		}
		name := m.homeIn + e.Name()
		if m.keep[name] {
			continue
		}
		moveOne(name, m.move(name))
	}
}

func vcCopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		_ = os.Remove(dst)
		return err
	}
	return out.Close()
}
