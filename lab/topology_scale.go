package main

// --hosts N --vms M: the default topology scaled for benchmarks (README.md, "The binary").

import "fmt"

// scale replaces the clusters and VMs with generated ones: nhosts hosts in clusters of up to 32,
// nvms VMs round robin over the hosts, each with 1-3 disks on the shared datastores. Arrays, LUNs
// and datastores stay; presentation limits to clusters that no longer exist are dropped.
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
	var shared []string
	for i := range t.Datastores {
		t.Datastores[i].Clusters = nil
		if t.Datastores[i].ReplicaOf == "" {
			shared = append(shared, t.Datastores[i].Name)
		}
	}
	if nvms > 0 && len(shared) == 0 {
		return fmt.Errorf("--vms needs at least one shared datastore in the topology")
	}
	t.VMs = nil
	for i := 0; i < nvms; i++ {
		c := t.Clusters[i%nclusters]
		host := c.Hosts[(i/nclusters)%len(c.Hosts)]
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
