package main

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

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

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
