package main

// Custom attributes (CustomFieldsManager). vsguesttruth reads its publish scope and the replica
// pairs of datastores from custom attributes. vCenter:
//   - SetField sets the entity's value for the field key: a value set again replaces the old one
//     (customValue and value hold one entry per key), and the change is published, so a
//     PropertyCollector watcher of customValue sees it. The simulator appends a duplicate entry each
//     time and publishes nothing;
//   - SetField needs Global.SetCustomField on the entity; AddCustomFieldDef, RemoveCustomFieldDef
//     and RenameCustomFieldDef need Global.ManageCustomFields (authorization_manager.go);
//   - definitions and values are in vCenter's database: every change is journaled and replayed by a
//     restarted lab, in order, so the field keys come back the same:
//
//	{"t":"custom_field","method":"AddCustomFieldDef","xml":"<the request>","key":101}
// Adding, removing and renaming definitions is the simulator's own.

import (
	"fmt"
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	for _, name := range []string{"SetField", "AddCustomFieldDef", "RemoveCustomFieldDef", "RenameCustomFieldDef"} {
		vcCallFixes[name] = vcHandleCustomField
	}
	registerJournal("custom_field", replayCustomField)
}

func vcCustomFieldsManager() *simulator.CustomFieldsManager {
	si, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance)
	if !ok || si.Content.CustomFieldsManager == nil {
		return nil
	}
	m, _ := simulator.Map.Get(*si.Content.CustomFieldsManager).(*simulator.CustomFieldsManager)
	return m
}

func vcHandleCustomField(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	priv, obj := "Global.ManageCustomFields", vcRootFolder()
	if req, ok := method.Body.(*types.SetField); ok {
		if simulator.Map.Get(req.Entity) == nil {
			return vcFault(&types.ManagedObjectNotFound{Obj: req.Entity},
				fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", req.Entity))
		}
		priv, obj = "Global.SetCustomField", req.Entity
	}
	if denied := vcCheckPrivilege(ctx, priv, obj); denied != nil {
		return denied
	}
	res := vcCustomFieldCall(ctx, method.Body)
	if res.Fault() == nil {
		extra := map[string]interface{}{}
		if b, ok := res.(*methods.AddCustomFieldDefBody); ok && b.Res != nil {
			extra["key"] = b.Res.Returnval.Key
		}
		journalRequest("custom_field", method.Name, method.Body, extra)
	}
	return res
}

// vcCustomFieldCall runs one CustomFieldsManager call (a SOAP call, or its journal replay).
func vcCustomFieldCall(ctx *simulator.Context, req interface{}) soap.HasFault {
	m := vcCustomFieldsManager()
	if m == nil {
		return vcFault(&types.NotSupported{}, "The operation is not supported on the object.")
	}
	var res soap.HasFault
	switch r := req.(type) {
	case *types.SetField:
		res = vcSetField(ctx, m, r)
	case *types.AddCustomFieldDef:
		simulator.Map.WithLock(m, func() { res = m.AddCustomFieldDef(r) })
	case *types.RemoveCustomFieldDef:
		simulator.Map.WithLock(m, func() { res = m.RemoveCustomFieldDef(r) })
	case *types.RenameCustomFieldDef:
		simulator.Map.WithLock(m, func() { res = m.RenameCustomFieldDef(r) })
	default:
		res = vcFault(&types.InvalidRequest{}, fmt.Sprintf("not a custom field call: %T", req))
	}
	return res
}

func vcSetField(ctx *simulator.Context, m *simulator.CustomFieldsManager, req *types.SetField) soap.HasFault {
	known := false
	simulator.Map.WithLock(m, func() {
		for _, f := range m.Field {
			if f.Key == req.Key {
				known = true
			}
		}
	})
	if !known {
		return vcFault(&types.InvalidArgument{InvalidProperty: "key"}, "A specified parameter was not correct: key")
	}
	obj := simulator.Map.Get(req.Entity)
	e := vcEntity(req.Entity)
	if obj == nil || e == nil {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.Entity}, "")
	}
	set := func(list []types.BaseCustomFieldValue) []types.BaseCustomFieldValue {
		out := make([]types.BaseCustomFieldValue, 0, len(list)+1)
		done := false
		for _, v := range list {
			if v.GetCustomFieldValue().Key != req.Key {
				out = append(out, v)
				continue
			}
			if !done { // the first entry of the key takes the value; duplicates go
				out = append(out, &types.CustomFieldStringValue{CustomFieldValue: types.CustomFieldValue{Key: req.Key}, Value: req.Value})
				done = true
			}
		}
		if !done {
			out = append(out, &types.CustomFieldStringValue{CustomFieldValue: types.CustomFieldValue{Key: req.Key}, Value: req.Value})
		}
		return out
	}
	simulator.Map.WithLock(obj, func() {
		me := e.Entity()
		simulator.Map.Update(obj, []types.PropertyChange{
			{Name: "customValue", Val: set(me.CustomValue)},
			{Name: "value", Val: set(me.Value)},
		})
	})
	return &methods.SetFieldBody{Res: &types.SetFieldResponse{}}
}

func replayCustomField(l *Lab, e *journalEntry) error {
	var r struct {
		Method string `json:"method"`
		XML    string `json:"xml"`
		Key    int32  `json:"key"`
	}
	if err := e.decode(&r); err != nil {
		return err
	}
	t, ok := types.TypeFunc()(r.Method)
	if !ok {
		return fmt.Errorf("unknown method %q", r.Method)
	}
	req := reflect.New(t).Interface()
	if err := vcXMLDecode(r.XML, req); err != nil {
		return err
	}
	res := vcCustomFieldCall(l.ctx, req)
	if f := res.Fault(); f != nil {
		return fmt.Errorf("%s: %T %s", r.Method, f.VimFault(), f.String)
	}
	if b, ok := res.(*methods.AddCustomFieldDefBody); ok && b.Res != nil && r.Key != 0 && b.Res.Returnval.Key != r.Key {
		return fmt.Errorf("field %q came back with key %d, not %d", b.Res.Returnval.Name, b.Res.Returnval.Key, r.Key)
	}
	return nil
}
