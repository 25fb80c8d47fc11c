"""CAM role and policy actions against the local cloud, through tencentcloud-sdk-python's typed
models (the referee for the shapes): success and error paths, with the codes of the SDK's
`cam/v20190116/errorcodes.py`. `before` leaves a role behind; `after` checks it survived a
restart of the local cloud."""

import json
import sys

from tencentcloud.cam.v20190116 import errorcodes, models

from api3_common import cam, expect_error

c = cam()
TRUST = json.dumps({"version": "2.0", "statement": [{
    "action": "name/sts:AssumeRole", "effect": "allow",
    "principal": {"service": ["scf.qcloud.com"]}}]})
POLICY = json.dumps({"version": "2.0", "statement": [{
    "effect": "allow", "action": ["name/cos:GetObject"],
    "resource": ["qcs::cos:ap-guangzhou:uid/1250000000:chat-1250000000/*"]}]})


def req(cls, **fields):
    r = cls()
    r.from_json_string(json.dumps(fields))
    return r


if sys.argv[1:] == ["after"]:
    info = c.GetRole(req(models.GetRoleRequest, RoleName="kept")).RoleInfo
    assert info.RoleName == "kept" and info.PolicyDocument == TRUST, info
    lst = c.ListAttachedRolePolicies(req(models.ListAttachedRolePoliciesRequest,
                                         Page=1, Rp=20, RoleName="kept"))
    assert lst.TotalNum == 1 and lst.List[0].PolicyName == "kept-cos", lst
    print("cam restart ok")
    sys.exit(0)

# ---- CreateRole / GetRole ------------------------------------------------------------------
created = c.CreateRole(req(models.CreateRoleRequest, RoleName="chat-role", PolicyDocument=TRUST,
                           Description="chat", Tags=[{"Key": "chatstack:stack", "Value": "chat"}]))
assert created.RoleId and created.RoleId.isdigit(), created.RoleId
info = c.GetRole(req(models.GetRoleRequest, RoleName="chat-role")).RoleInfo
assert isinstance(info, models.RoleInfo)
assert info.RoleId == created.RoleId and info.RoleName == "chat-role", info
assert info.PolicyDocument == TRUST and info.Description == "chat", info
assert len(info.AddTime) == 19 and info.UpdateTime, info  # "2024-12-17 17:52:48"
assert [(t.Key, t.Value) for t in info.Tags] == [("chatstack:stack", "chat")], info.Tags
by_id = c.GetRole(req(models.GetRoleRequest, RoleId=created.RoleId)).RoleInfo
assert by_id.RoleName == "chat-role"

e = expect_error(errorcodes.INVALIDPARAMETER_ROLENAMEINUSE, c.CreateRole,
                 req(models.CreateRoleRequest, RoleName="chat-role", PolicyDocument=TRUST))
expect_error(errorcodes.INVALIDPARAMETER_ROLENOTEXIST, c.GetRole,
             req(models.GetRoleRequest, RoleName="nobody"))
expect_error(errorcodes.INVALIDPARAMETER_POLICYDOCUMENTERROR, c.CreateRole,
             req(models.CreateRoleRequest, RoleName="bad", PolicyDocument="not json"))
expect_error(errorcodes.INVALIDPARAMETER_ROLENAMEERROR, c.CreateRole,
             req(models.CreateRoleRequest, RoleName="bad name!", PolicyDocument=TRUST))
expect_error("MissingParameter", c.CreateRole, req(models.CreateRoleRequest, RoleName="x"))

# ---- CreatePolicy / AttachRolePolicy / ListAttachedRolePolicies ----------------------------
pid = c.CreatePolicy(req(models.CreatePolicyRequest, PolicyName="chat-cos", PolicyDocument=POLICY,
                         Description="cos")).PolicyId
assert isinstance(pid, int) and pid > 0, pid
expect_error(errorcodes.FAILEDOPERATION_POLICYNAMEINUSE, c.CreatePolicy,
             req(models.CreatePolicyRequest, PolicyName="chat-cos", PolicyDocument=POLICY))
expect_error(errorcodes.INVALIDPARAMETER_POLICYDOCUMENTERROR, c.CreatePolicy,
             req(models.CreatePolicyRequest, PolicyName="bad", PolicyDocument="[]"))

c.AttachRolePolicy(req(models.AttachRolePolicyRequest, PolicyId=pid, AttachRoleName="chat-role"))
# Attaching again, or by name, changes nothing.
c.AttachRolePolicy(req(models.AttachRolePolicyRequest, PolicyName="chat-cos",
                       AttachRoleId=created.RoleId))
lst = c.ListAttachedRolePolicies(req(models.ListAttachedRolePoliciesRequest,
                                     Page=1, Rp=20, RoleName="chat-role"))
assert lst.TotalNum == 1 and len(lst.List) == 1, lst
p = lst.List[0]
assert isinstance(p, models.AttachedPolicyOfRole)
assert p.PolicyId == pid and p.PolicyName == "chat-cos" and p.PolicyType == "User", p
assert len(p.AddTime) == 19, p.AddTime
expect_error(errorcodes.INVALIDPARAMETER_POLICYIDNOTEXIST, c.AttachRolePolicy,
             req(models.AttachRolePolicyRequest, PolicyId=999, AttachRoleName="chat-role"))
expect_error(errorcodes.INVALIDPARAMETER_ROLENOTEXIST, c.AttachRolePolicy,
             req(models.AttachRolePolicyRequest, PolicyId=pid, AttachRoleName="nobody"))
expect_error(errorcodes.INVALIDPARAMETER_ROLENOTEXIST, c.ListAttachedRolePolicies,
             req(models.ListAttachedRolePoliciesRequest, Page=1, Rp=20, RoleName="nobody"))
page2 = c.ListAttachedRolePolicies(req(models.ListAttachedRolePoliciesRequest,
                                       Page=2, Rp=20, RoleName="chat-role"))
assert page2.TotalNum == 1 and page2.List == [], page2

# ---- DetachRolePolicy / DeletePolicy / DeleteRole ------------------------------------------
c.DetachRolePolicy(req(models.DetachRolePolicyRequest, PolicyId=pid, DetachRoleName="chat-role"))
c.DetachRolePolicy(req(models.DetachRolePolicyRequest, PolicyId=pid, DetachRoleName="chat-role"))
lst = c.ListAttachedRolePolicies(req(models.ListAttachedRolePoliciesRequest,
                                     Page=1, Rp=20, RoleName="chat-role"))
assert lst.TotalNum == 0 and lst.List == [], lst
c.DeletePolicy(req(models.DeletePolicyRequest, PolicyId=[pid]))
expect_error(errorcodes.RESOURCENOTFOUND_POLICYIDNOTFOUND, c.DeletePolicy,
             req(models.DeletePolicyRequest, PolicyId=[pid]))
c.DeleteRole(req(models.DeleteRoleRequest, RoleName="chat-role"))
expect_error(errorcodes.INVALIDPARAMETER_ROLENOTEXIST, c.DeleteRole,
             req(models.DeleteRoleRequest, RoleName="chat-role"))
expect_error(errorcodes.INVALIDPARAMETER_ROLENOTEXIST, c.GetRole,
             req(models.GetRoleRequest, RoleName="chat-role"))

# ---- left behind for the restart check -----------------------------------------------------
c.CreateRole(req(models.CreateRoleRequest, RoleName="kept", PolicyDocument=TRUST))
kid = c.CreatePolicy(req(models.CreatePolicyRequest, PolicyName="kept-cos",
                         PolicyDocument=POLICY)).PolicyId
c.AttachRolePolicy(req(models.AttachRolePolicyRequest, PolicyId=kid, AttachRoleName="kept"))
print("cam ok")
