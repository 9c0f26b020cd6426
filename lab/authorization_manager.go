package main

// Privileges: a user whose role does not allow a call. vCenter checks every call against the
// privileges the caller's role grants on the object (or, for global privileges, on the root
// folder) and refuses with vim.fault.NoPermission ("Permission to perform this operation was
// denied.") carrying the object and the missing privilegeId. The simulator grants everything to
// everyone and answers every privilege query with true.
//
// The lab has two logins (session_manager.go): the administrator (--username/--password) and a
// read-only user (--readonly-user, default readonly:readonly) holding vCenter's ReadOnly role
// (System.Anonymous, System.View, System.Read): it reads everything, and these calls are refused:
//
//	ReconfigVM_Task                    VirtualMachine.Config.AdvancedConfig (extraConfig), else .Settings
//	MigrateVM_Task                     Resource.HotMigrate (powered on), Resource.ColdMigrate (off)
//	RelocateVM_Task                    Resource.ColdMigrate
//	LogUserEvent, PostEvent            Global.LogEvent
//	Register/Update/UnregisterExtension, SetExtensionCertificate   Extension.Register/Update/Unregister (root folder)
//	RefreshStorageSystem, Rescan*, Enable/DisableMultipathPath     Host.Config.Storage (the host)
//	SetField                           Global.SetCustomField (the entity)
//	Add/Remove/RenameCustomFieldDef    Global.ManageCustomFields (root folder)
//	CancelTask                         Global.CancelTask (the task's entity)
//
// AuthorizationManager.HasPrivilegeOnEntity, HasPrivilegeOnEntities (by session id),
// HasUserPrivilegeOnEntities and FetchUserPrivilegeOnEntities (by user name) answer from the same
// roles: the read-only user holds the three System privileges only, the administrator everything,
// a session id vCenter does not know nothing. (HasPrivilegeOnEntity also answers its false values:
// the simulator's encoding dropped them.)

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vcCallFixes["HasPrivilegeOnEntity"] = vcHandleHasPrivilegeOnEntity
	vcCallFixes["HasPrivilegeOnEntities"] = vcHandleHasPrivilegeOnEntities
	vcCallFixes["HasUserPrivilegeOnEntities"] = vcHandleHasUserPrivilegeOnEntities
	vcCallFixes["FetchUserPrivilegeOnEntities"] = vcHandleFetchUserPrivilegeOnEntities
}

// vcReadOnlyPrivileges: vCenter's ReadOnly role.
var vcReadOnlyPrivileges = []string{"System.Anonymous", "System.Read", "System.View"}

const vcNoPermissionMessage = "Permission to perform this operation was denied."

// vcUserGranted: whether user holds privilege. Only the read-only user is restricted.
func vcUserGranted(user, privilege string) bool {
	if vcLogins.readonlyUser == "" || user != vcLogins.readonlyUser {
		return true
	}
	for _, p := range vcReadOnlyPrivileges {
		if p == privilege {
			return true
		}
	}
	return false
}

// vcCheckPrivilege returns the NoPermission fault vCenter answers when the caller lacks privilege
// on obj, nil when the call may go on.
func vcCheckPrivilege(ctx *simulator.Context, privilege string, obj types.ManagedObjectReference) soap.HasFault {
	if ctx == nil || ctx.Session == nil || vcUserGranted(ctx.Session.UserName, privilege) {
		return nil
	}
	return vcFault(&types.NoPermission{Object: obj, PrivilegeId: privilege}, vcNoPermissionMessage)
}

func vcRootFolder() types.ManagedObjectReference {
	if si, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance); ok {
		return si.Content.RootFolder
	}
	return types.ManagedObjectReference{Type: "Folder", Value: "group-d1"}
}

// vcSessionUser returns the user of a live session, false when vCenter does not know the id.
func vcSessionUser(id string) (string, bool) {
	for _, s := range vcSessionList() {
		if s.Key == id {
			return s.UserName, true
		}
	}
	return "", false
}

func vcEntityPrivileges(entities []types.ManagedObjectReference, privs []string, granted func(string) bool) []types.EntityPrivilege {
	out := make([]types.EntityPrivilege, 0, len(entities))
	for _, e := range entities {
		ep := types.EntityPrivilege{Entity: e}
		for _, p := range privs {
			ep.PrivAvailability = append(ep.PrivAvailability, types.PrivilegeAvailability{PrivId: p, IsGranted: granted(p)})
		}
		out = append(out, ep)
	}
	return out
}

func vcSessionGrants(sessionID string) func(string) bool {
	user, ok := vcSessionUser(sessionID)
	return func(p string) bool { return ok && vcUserGranted(user, p) }
}

func vcHandleHasPrivilegeOnEntity(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.HasPrivilegeOnEntity)
	if simulator.Map.Get(req.Entity) == nil {
		return vcFault(&types.ManagedObjectNotFound{Obj: req.Entity}, "")
	}
	granted := vcSessionGrants(req.SessionId)
	res := make([]bool, len(req.PrivId))
	for i, p := range req.PrivId {
		res[i] = granted(p)
	}
	return &vcHasPrivilegeOnEntityBody{Res: &HasPrivilegeOnEntityResponse{Returnval: res}}
}

// HasPrivilegeOnEntityResponse is vim25's without omitempty on returnval: vCenter answers one
// boolean per privilege, false ones included (vim25's tag drops every false and shifts the rest).
// Named like the vim25 type: the simulator names the response element after it.
type HasPrivilegeOnEntityResponse struct {
	Returnval []bool `xml:"returnval"`
}

type vcHasPrivilegeOnEntityBody struct {
	Res    *HasPrivilegeOnEntityResponse `xml:"HasPrivilegeOnEntityResponse,omitempty"`
	Fault_ *soap.Fault                   `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *vcHasPrivilegeOnEntityBody) Fault() *soap.Fault { return b.Fault_ }

func vcHandleHasPrivilegeOnEntities(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.HasPrivilegeOnEntities)
	return &methods.HasPrivilegeOnEntitiesBody{Res: &types.HasPrivilegeOnEntitiesResponse{
		Returnval: vcEntityPrivileges(req.Entity, req.PrivId, vcSessionGrants(req.SessionId)),
	}}
}

func vcHandleHasUserPrivilegeOnEntities(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.HasUserPrivilegeOnEntities)
	return &methods.HasUserPrivilegeOnEntitiesBody{Res: &types.HasUserPrivilegeOnEntitiesResponse{
		Returnval: vcEntityPrivileges(req.Entities, req.PrivId, func(p string) bool { return vcUserGranted(req.UserName, p) }),
	}}
}

func vcHandleFetchUserPrivilegeOnEntities(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.FetchUserPrivilegeOnEntities)
	if vcLogins.readonlyUser == "" || req.UserName != vcLogins.readonlyUser {
		am, ok := simulator.Map.Get(req.This).(*simulator.AuthorizationManager)
		if !ok {
			return vcFault(&types.ManagedObjectNotFound{Obj: req.This}, "")
		}
		var res soap.HasFault
		simulator.Map.WithLock(am, func() { res = am.FetchUserPrivilegeOnEntities(req) })
		return res
	}
	out := make([]types.UserPrivilegeResult, 0, len(req.Entities))
	for _, e := range req.Entities {
		out = append(out, types.UserPrivilegeResult{Entity: e, Privileges: append([]string(nil), vcReadOnlyPrivileges...)})
	}
	return &methods.FetchUserPrivilegeOnEntitiesBody{Res: &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: out}}
}

// AuthorizationManager's roles as vCenter keeps them. The simulator adds, updates and removes roles for
// anyone and answers AddAuthorizationRole without the new role's id (numbering new roles from 0, the id
// of no role). vCenter:
//
//   - AddAuthorizationRole, UpdateAuthorizationRole and RemoveAuthorizationRole need
//     Authorization.ModifyRoles on the root folder (NoPermission with that privilegeId otherwise);
//   - AddAuthorizationRole returns the new role's id ("int: the roleId assigned to the new role"); the
//     lab assigns one past the highest id in use.
//
// The rest is the simulator's: an unknown privilege id is InvalidArgument (privIds), a name in use
// AlreadyExists, and every role also holds System.Anonymous, System.View and System.Read.
// (vSphere Web Services API reference: AuthorizationManager, AuthorizationRole.)
func init() {
	vcCallFixes["AddAuthorizationRole"] = vcHandleAddAuthorizationRole
	vcCallFixes["UpdateAuthorizationRole"] = vcHandleUpdateAuthorizationRole
	vcCallFixes["RemoveAuthorizationRole"] = vcHandleRemoveAuthorizationRole
}

const vcModifyRoles = "Authorization.ModifyRoles"

// vcChangeRoles runs change on the AuthorizationManager ref, locked, once the caller may modify roles.
func vcChangeRoles(ctx *simulator.Context, ref types.ManagedObjectReference, change func(*simulator.AuthorizationManager) soap.HasFault) soap.HasFault {
	if f := vcCheckPrivilege(ctx, vcModifyRoles, vcRootFolder()); f != nil {
		return f
	}
	am, ok := simulator.Map.Get(ref).(*simulator.AuthorizationManager)
	if !ok {
		return vcFault(&types.ManagedObjectNotFound{Obj: ref}, "")
	}
	var res soap.HasFault
	simulator.Map.WithLock(am, func() { res = change(am) })
	return res
}

func vcHandleAddAuthorizationRole(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.AddAuthorizationRole)
	return vcChangeRoles(ctx, req.This, func(am *simulator.AuthorizationManager) soap.HasFault {
		next := int32(0)
		for _, role := range am.RoleList {
			if role.RoleId > next {
				next = role.RoleId
			}
		}
		res := am.AddAuthorizationRole(req)
		if body, ok := res.(*methods.AddAuthorizationRoleBody); ok && body.Fault_ == nil {
			last := &am.RoleList[len(am.RoleList)-1]
			last.RoleId = next + 1
			body.Res = &types.AddAuthorizationRoleResponse{Returnval: last.RoleId}
		}
		return res
	})
}

func vcHandleUpdateAuthorizationRole(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.UpdateAuthorizationRole)
	return vcChangeRoles(ctx, req.This, func(am *simulator.AuthorizationManager) soap.HasFault {
		return am.UpdateAuthorizationRole(req)
	})
}

func vcHandleRemoveAuthorizationRole(ctx *simulator.Context, method *simulator.Method) soap.HasFault {
	req := method.Body.(*types.RemoveAuthorizationRole)
	return vcChangeRoles(ctx, req.This, func(am *simulator.AuthorizationManager) soap.HasFault {
		return am.RemoveAuthorizationRole(req)
	})
}
