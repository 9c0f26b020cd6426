package main

// The identities of the lab's SAN, built as arrays and ESXi build theirs: NAA ids, ScsiLun uuids, VMFS
// uuids, WWNs. The same topology gives the same identities at every start.

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
)

func hexHash(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(h[:])
}

// vmfsUUID looks like a VMFS volume uuid: 5f3a1b2c-4d5e6f70-1a2b-001122334455.
func vmfsUUID(seed string) string {
	h := hexHash("vmfs", seed)
	return h[0:8] + "-" + h[8:16] + "-" + h[16:20] + "-" + h[20:32]
}

// naaPrefix is the start of an NAA type 6 id: 6 and the vendor's IEEE company id.
var naaPrefix = map[string]string{"PURE": "624a9370", "NETAPP": "600a0980", "HITACHI": "60060e80"}

// naaID is an NAA type 6 id as arrays report them: the vendor prefix + array serial + LUN serial.
func naaID(a *array, id int) string {
	prefix, ok := naaPrefix[a.spec.Vendor]
	if !ok {
		prefix = "60014050"
	}
	return fmt.Sprintf("naa.%s%08x%016x", prefix, a.spec.Serial, uint64(0x5a0000+id))
}

// scsiUUID mimics how ESXi builds ScsiLun.uuid: 0200 + LUN number + 0000 + the NAA id + vendor/model.
func scsiUUID(lunID int, canonical, model string) string {
	id := strings.TrimPrefix(canonical, "naa.")
	id = strings.TrimPrefix(id, "mpx.")
	m := hex.EncodeToString([]byte(model + "      "))[:12]
	return fmt.Sprintf("02%02x%02x0000%s%s", 0, lunID%256, id, m)
}

func (s *san) formatWWN(v int64) string {
	b := make([]string, 8)
	for i := 0; i < 8; i++ {
		b[i] = fmt.Sprintf("%02x", byte(uint64(v)>>(56-8*i)))
	}
	return strings.Join(b, ":")
}
