package main

// --hosts N --vms M: the default topology scaled for benchmarks (README.md, "The binary").

import "fmt"

const (
	// hostsPerVolume is vSphere's configuration maximum of hosts that share one VMFS volume (64 since
	// vSphere 4; "Configuration Maximums", "Hosts per volume").
	hostsPerVolume = 64
	// lunIDsPerDomain spaces the LUN ids of successive storage domains on one array.
	lunIDsPerDomain = 16
)

// scale replaces the clusters and VMs with generated ones: nhosts hosts in clusters of up to 32,
// nvms VMs round robin over the hosts, each with 1-3 disks on the datastores its host mounts. The
// arrays stay; their LUNs and VMFS datastores are repeated per storage domain (two clusters, 64
// hosts, the most that may share a volume), each masked to its domain's clusters; NFS exports are
// mounted everywhere (no per-volume maximum for NFS).
func (t *Topology) scale(nhosts, nvms int) error {
	if nhosts <= 0 {
		nhosts = 0
		for _, c := range t.Clusters {
			nhosts += len(c.Hosts)
		}
	}
	const perCluster = 32
	nclusters := (nhosts + perCluster - 1) / perCluster
	t.Clusters = nil
	t.Hosts = nil // generated hosts are cabled to both fabrics
	for c := 0; c < nclusters; c++ {
		cs := ClusterSpec{Name: fmt.Sprintf("cl-%02d", c+1)}
		for h := 0; h < perCluster && c*perCluster+h < nhosts; h++ {
			cs.Hosts = append(cs.Hosts, fmt.Sprintf("esx-%02d-%02d", c+1, h+1))
		}
		t.Clusters = append(t.Clusters, cs)
	}
	// The scaled topology keeps the SCSI arrays only, so benchmarks compare like with like across versions.
	t.dropNVMe()
	for i := range t.Luns {
		t.Luns[i].Clusters = nil
		t.Luns[i].Hosts = nil
	}
	for i := range t.Datastores {
		t.Datastores[i].Clusters = nil
	}
	domains := t.storageDomains(hostsPerVolume / perCluster)
	if nvms > 0 && len(domains[0]) == 0 { // every domain has the same datastores
		return fmt.Errorf("--vms needs at least one shared datastore in the topology")
	}
	t.VMs = nil
	for i := 0; i < nvms; i++ {
		c := t.Clusters[i%nclusters]
		host := c.Hosts[(i/nclusters)%len(c.Hosts)]
		shared := domains[i%nclusters/(hostsPerVolume/perCluster)]
		v := VMSpec{Name: fmt.Sprintf("vm-%05d", i+1), Cluster: c.Name, Host: host}
		ndisks := 1 + i%3
		for d := 0; d < ndisks; d++ {
			ctl := "pvscsi"
			bus := 0
			if d == 2 {
				ctl, bus = "lsilogic", 1
			}
			v.Disks = append(v.Disks, DiskSpec{
				Datastore:  shared[(i+d)%len(shared)],
				SizeGB:     int64(8 * (1 + (i+d)%4)),
				Controller: ctl,
				Bus:        bus,
				Unit:       d % 2,
			})
		}
		t.VMs = append(t.VMs, v)
	}
	return t.validate()
}

// storageDomains repeats the LUNs and VMFS datastores for each group of perDomain clusters when there
// is more than one group (copies named "<name>-dNN", LUN ids offset per domain so naa ids stay
// unique) and returns, per domain, the datastores a VM there may use (replicas excluded).
func (t *Topology) storageDomains(perDomain int) [][]string {
	n := (len(t.Clusters) + perDomain - 1) / perDomain
	luns, datastores := t.Luns, t.Datastores
	shared := func(suffix string, vmfs bool) []string {
		var names []string
		for _, d := range datastores {
			if d.ReplicaOf == "" && (d.Type == "NFS") != vmfs {
				names = append(names, d.Name+suffix)
			}
		}
		return names
	}
	if n <= 1 {
		return [][]string{append(shared("", true), shared("", false)...)}
	}
	t.Luns, t.Datastores = nil, nil
	for _, d := range datastores {
		if d.Type == "NFS" {
			t.Datastores = append(t.Datastores, d)
		}
	}
	nfs := shared("", false)
	out := make([][]string, n)
	for k := 0; k < n; k++ {
		suffix := fmt.Sprintf("-d%02d", k+1)
		var clusters []string
		for c := k * perDomain; c < (k+1)*perDomain && c < len(t.Clusters); c++ {
			clusters = append(clusters, t.Clusters[c].Name)
		}
		for _, l := range luns {
			l.Name += suffix
			l.ID += k * lunIDsPerDomain
			l.Clusters = clusters
			if l.ReplicaOf != "" {
				l.ReplicaOf += suffix
			}
			t.Luns = append(t.Luns, l)
		}
		for _, d := range datastores {
			if d.Type == "NFS" {
				continue
			}
			d.Name += suffix
			d.Extents = append([]string(nil), d.Extents...)
			for i := range d.Extents {
				d.Extents[i] += suffix
			}
			if d.ReplicaOf != "" {
				d.ReplicaOf += suffix
			}
			t.Datastores = append(t.Datastores, d)
		}
		out[k] = append(shared(suffix, true), nfs...)
	}
	return out
}

// dropNVMe removes the NVMe arrays, their namespaces and the datastores on them.
func (t *Topology) dropNVMe() {
	nvme := map[string]bool{}
	var arrays []ArraySpec
	for _, a := range t.Arrays {
		if a.Protocol == protocolNVMe {
			nvme[a.Name] = true
		} else {
			arrays = append(arrays, a)
		}
	}
	gone := map[string]bool{}
	var luns []LunSpec
	for _, l := range t.Luns {
		if nvme[l.Array] {
			gone[l.Name] = true
		} else {
			luns = append(luns, l)
		}
	}
	var datastores []DatastoreSpec
	for _, d := range t.Datastores {
		keep := true
		for _, e := range d.Extents {
			keep = keep && !gone[e]
		}
		if keep {
			datastores = append(datastores, d)
		}
	}
	t.Arrays, t.Luns, t.Datastores = arrays, luns, datastores
}
