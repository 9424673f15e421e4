// The official Better Auth client (package.json pins it) against a live Atlas: every core and organization
// method Atlas serves, in cookie and bearer styles, read through the client's own parsing (dates, error.code,
// error.message). Run by tests/test_better_auth_client.py:
//
//   node client_checks.mjs <baseURL> <trustedOrigin> <outboxFile> <cookie|bearer>
//
// Prints one JSON line per check ({style, name, ok, detail}) and exits 1 if any failed.
import { readFileSync, existsSync } from "node:fs";
import { createAuthClient } from "better-auth/client";
import { organizationClient } from "better-auth/client/plugins";

const [baseURL, trustedOrigin, outbox, style] = process.argv.slice(2);
const PASSWORD = "correct horse battery";
const run = `${style}-${Date.now().toString(36)}`;
const results = [];

function check(name, ok, detail = "") {
  results.push({ style, name, ok: Boolean(ok), detail: ok ? "" : String(detail) });
}

const json = (value) => JSON.stringify(value, (k, v) => (v instanceof Date ? `Date(${v.toISOString()})` : v));

// A date parsed by the client, within `slackMs` of `expected` (the old microsecond format was off by minutes).
function near(value, expected = Date.now(), slackMs = 5000) {
  return value instanceof Date && Math.abs(value.getTime() - expected) <= slackMs;
}

function refused(name, answer, status, code, message) {
  const error = answer.error;
  const ok = answer.data === null && error && error.status === status && error.code === code
    && (message === undefined || error.message === message);
  check(name, ok, `expected ${status} ${code}${message ? ` "${message}"` : ""}, got ${json(answer)}`);
}

// One signed-in browser (cookie jar, Origin header) or app (bearer token from set-auth-token).
function makeClient() {
  const state = { cookie: null, token: null };
  const fetchImpl = async (input, init = {}) => {
    const headers = new Headers(init.headers || {});
    if (style === "cookie" && state.cookie) headers.set("cookie", state.cookie);
    headers.set("origin", trustedOrigin); // a web app on the trusted origin, as its browser sends it
    const response = await fetch(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const [name, value] = pair.split("=");
      if (name === "better-auth.session_token") state.cookie = value ? `${name}=${value}` : null;
    }
    return response;
  };
  const fetchOptions = { customFetchImpl: fetchImpl };
  if (style === "bearer") {
    fetchOptions.auth = { type: "Bearer", token: () => state.token ?? "" };
    // Better Auth's documented bearer set-up: keep the token a response hands over.
    fetchOptions.onSuccess = (ctx) => {
      const token = ctx.response.headers.get("set-auth-token");
      if (token) state.token = token;
    };
  }
  const client = createAuthClient({ baseURL, fetchOptions, plugins: [organizationClient({
    teams: { enabled: true }, dynamicAccessControl: { enabled: true } })] });
  return { client, state, org: client.organization };
}

async function signedUp(label) {
  const user = makeClient();
  const email = `${label}-${run}@example.test`;
  const answer = await user.client.signUp.email({ email, password: PASSWORD, name: label });
  if (answer.error) throw new Error(`sign-up ${label}: ${json(answer)}`);
  return { ...user, email, id: answer.data.user.id };
}

async function main() {
  // ----- core: sign-up, sign-in, get-session ------------------------------------------------------
  const anonymous = makeClient();
  let answer = await anonymous.client.getSession();
  check("getSession without a session is data null, no error", answer.data === null && answer.error === null, json(answer));

  const owner = makeClient();
  const ownerEmail = `owner-${run}@example.test`;
  const started = Date.now();
  answer = await owner.client.signUp.email({ email: ownerEmail, password: PASSWORD, name: "Owner" });
  check("signUp.email answers token and user", answer.data?.token && answer.data?.user?.email === ownerEmail, json(answer));
  check("signUp.email: user.createdAt parses to the real instant", near(answer.data?.user?.createdAt, started), json(answer.data?.user));
  const ownerId = answer.data?.user?.id;

  answer = await anonymous.client.signUp.email({ email: ownerEmail, password: PASSWORD, name: "Again" });
  refused("signUp.email with a taken email", answer, 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
    "User already exists. Use another email.");
  answer = await anonymous.client.signUp.email({ email: "not-an-email", password: PASSWORD, name: "x" });
  check("signUp.email with a bad email is 400 VALIDATION_ERROR", answer.error?.status === 400 && answer.error?.code === "VALIDATION_ERROR", json(answer));
  answer = await anonymous.client.signIn.email({ email: ownerEmail, password: "wrong password" });
  refused("signIn.email with a wrong password", answer, 401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password");

  // callbackURL: Better Auth answers redirect true and the URL, and refuses one off the trusted origins.
  const landing = `${trustedOrigin}/dashboard?tab=1`;
  answer = await makeClient().client.signIn.email({ email: ownerEmail, password: PASSWORD, callbackURL: landing });
  check("signIn.email with a callbackURL answers redirect true and the url", answer.data?.redirect === true
    && answer.data?.url === landing && answer.data?.token, json(answer));
  answer = await makeClient().client.signIn.email({ email: ownerEmail, password: PASSWORD, callbackURL: "/welcome" });
  check("signIn.email with a path as callbackURL answers it", answer.data?.redirect === true && answer.data?.url === "/welcome",
    json(answer));
  answer = await makeClient().client.signIn.email({ email: ownerEmail, password: PASSWORD });
  check("signIn.email without a callbackURL answers redirect false", answer.data?.redirect === false && !answer.data?.url,
    json(answer));
  for (const hostile of ["https://evil.example/steal", "//evil.example/x", "/\\evil.example", "/%2F%2Fevil.example"]) {
    answer = await makeClient().client.signIn.email({ email: ownerEmail, password: PASSWORD, callbackURL: hostile });
    refused(`signIn.email refuses the callbackURL ${hostile}`, answer, 403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
  }

  answer = await owner.client.signIn.email({ email: ownerEmail, password: PASSWORD });
  check("signIn.email answers token and user", answer.data?.token && answer.data?.user?.id === ownerId, json(answer));
  answer = await owner.client.getSession();
  const session = answer.data?.session;
  check("getSession: session with token, userId, no activeOrganizationId", session?.token && session.userId === ownerId
    && session.activeOrganizationId == null, json(answer));
  check("getSession: createdAt and updatedAt are Dates near now", near(session?.createdAt) && near(session?.updatedAt), json(session));
  check("getSession: expiresAt is a Date about 7 days ahead", near(session?.expiresAt, Date.now() + 7 * 864e5, 60000), json(session));
  check("getSession: the user with Date timestamps", answer.data?.user?.email === ownerEmail && near(answer.data?.user?.updatedAt, started, 60000), json(answer.data?.user));

  // ----- organizations ------------------------------------------------------------------------------
  const slug = `acme-${run}`;
  answer = await owner.org.checkSlug({ slug });
  check("organization.checkSlug of a free slug", answer.data?.status === true, json(answer));
  answer = await owner.org.getFullOrganization();
  check("organization.getFullOrganization without an active org is null", answer.data === null && answer.error === null, json(answer));
  answer = await owner.org.getActiveMember();
  refused("organization.getActiveMember without an active org", answer, 400, "NO_ACTIVE_ORGANIZATION", "No active organization");

  answer = await owner.org.create({ name: "Acme", slug });
  const org = answer.data;
  check("organization.create answers the org with its owner", org?.slug === slug && org?.members?.[0]?.role === "owner"
    && near(org?.createdAt), json(answer));
  answer = await owner.client.getSession();
  check("organization.create makes the org active (the client kept the fresh token)",
    answer.data?.session?.activeOrganizationId === org?.id, json(answer));
  answer = await owner.org.checkSlug({ slug });
  refused("organization.checkSlug of a taken slug", answer, 400, "ORGANIZATION_SLUG_ALREADY_TAKEN", "Organization slug already taken");
  answer = await owner.org.create({ name: "Acme again", slug });
  refused("organization.create with a taken slug", answer, 400, "ORGANIZATION_ALREADY_EXISTS", "Organization already exists");

  answer = await owner.org.list();
  check("organization.list has the org", Array.isArray(answer.data) && answer.data.some((o) => o.id === org?.id && near(o.createdAt)), json(answer));
  answer = await owner.org.getFullOrganization();
  check("organization.getFullOrganization: members and invitations", answer.data?.id === org?.id
    && answer.data.members.length === 1 && Array.isArray(answer.data.invitations), json(answer));
  answer = await owner.client.$fetch("/organization/get-organization", { method: "GET" });
  check("get-organization answers the active org", answer.data?.id === org?.id && !("members" in (answer.data ?? {})), json(answer));
  answer = await owner.org.getActiveMember();
  check("organization.getActiveMember is the owner", answer.data?.userId === ownerId && answer.data?.role === "owner", json(answer));
  answer = await owner.org.getActiveMemberRole();
  check("organization.getActiveMemberRole is owner", answer.data?.role === "owner", json(answer));
  answer = await owner.org.hasPermission({ permissions: { member: ["create"], organization: ["delete"] } });
  check("organization.hasPermission for an owner", answer.data?.success === true, json(answer));
  answer = await owner.org.update({ data: { name: "Acme Renamed" } });
  check("organization.update renames", answer.data?.name === "Acme Renamed", json(answer));

  // ----- invitations ------------------------------------------------------------------------------------
  const second = await signedUp("second");
  const third = await signedUp("third");
  answer = await owner.org.inviteMember({ email: second.email, role: "member" });
  const invitation = answer.data;
  check("organization.inviteMember", invitation?.status === "pending" && near(invitation?.expiresAt, Date.now() + 48 * 36e5, 60000), json(answer));
  answer = await owner.org.inviteMember({ email: second.email, role: "member" });
  refused("organization.inviteMember twice", answer, 400, "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION", "User is already invited to this organization");
  answer = await owner.org.inviteMember({ email: second.email, role: "member", resend: true });
  check("organization.inviteMember with resend renews it", answer.data?.id === invitation?.id, json(answer));
  answer = await owner.org.inviteMember({ email: third.email, role: ["admin"] });
  const thirdInvitation = answer.data;
  check("organization.inviteMember with a role array", thirdInvitation?.role === "admin", json(answer));
  answer = await owner.org.inviteMember({ email: ownerEmail, role: "member" });
  refused("organization.inviteMember of a member", answer, 400, "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION");
  answer = await owner.org.listInvitations();
  check("organization.listInvitations", Array.isArray(answer.data) && answer.data.filter((i) => i.status === "pending").length === 2, json(answer));

  answer = await second.org.listUserInvitations();
  check("organization.listUserInvitations for the invitee", answer.data?.length === 1
    && answer.data[0].organizationName === "Acme Renamed", json(answer));
  answer = await second.org.getInvitation({ query: { id: invitation?.id } });
  check("organization.getInvitation", answer.data?.organizationSlug === slug && answer.data?.inviterEmail === ownerEmail, json(answer));
  answer = await owner.org.getInvitation({ query: { id: invitation?.id } });
  refused("organization.getInvitation of someone else's", answer, 400, "INVITATION_NOT_FOUND", "Invitation not found");
  answer = await second.org.acceptInvitation({ invitationId: invitation?.id });
  check("organization.acceptInvitation", answer.data?.member?.role === "member" && answer.data?.invitation?.status === "accepted", json(answer));
  answer = await second.client.getSession();
  check("organization.acceptInvitation makes the org active (fresh token kept)", answer.data?.session?.activeOrganizationId === org?.id, json(answer));
  answer = await second.org.acceptInvitation({ invitationId: invitation?.id });
  refused("organization.acceptInvitation twice", answer, 400, "INVITATION_NOT_FOUND");
  answer = await third.org.rejectInvitation({ invitationId: thirdInvitation?.id });
  check("organization.rejectInvitation", answer.data?.invitation?.status === "rejected" && answer.data?.member === null, json(answer));
  answer = await owner.org.inviteMember({ email: `nobody-${run}@example.test`, role: "member" });
  answer = await owner.org.cancelInvitation({ invitationId: answer.data?.id });
  check("organization.cancelInvitation", answer.data?.status === "canceled", json(answer));

  // ----- members ------------------------------------------------------------------------------------------
  answer = await owner.org.listMembers({ query: { limit: 1 } });
  check("organization.listMembers with limit", answer.data?.members?.length === 1 && answer.data?.total === 2, json(answer));
  answer = await second.org.listMembers();
  check("organization.listMembers by a plain member", answer.data?.members?.length === 2, json(answer));
  answer = await second.org.hasPermission({ permissions: { member: ["create"] } });
  check("organization.hasPermission for a plain member is false", answer.data?.success === false, json(answer));
  answer = await second.org.listInvitations();
  refused("organization.listInvitations by a plain member", answer, 403, "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS");
  const secondMember = (await owner.org.listMembers()).data?.members?.find((m) => m.userId === second.id);
  answer = await second.org.updateMemberRole({ memberId: secondMember?.id, role: "admin" });
  refused("organization.updateMemberRole by a plain member", answer, 403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER");
  answer = await owner.org.updateMemberRole({ memberId: secondMember?.id, role: ["admin"] });
  check("organization.updateMemberRole with a role array", answer.data?.role === "admin", json(answer));
  answer = await owner.org.getActiveMemberRole({ query: { userId: second.id } });
  check("organization.getActiveMemberRole of another member", answer.data?.role === "admin", json(answer));
  answer = await owner.org.leave({ organizationId: org?.id });
  refused("organization.leave by the only owner", answer, 400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");
  answer = await second.org.leave({ organizationId: org?.id });
  check("organization.leave answers the member", answer.data?.userId === second.id && answer.data?.organizationId === org?.id, json(answer));

  answer = await owner.org.inviteMember({ email: third.email, role: "member" });
  await third.org.acceptInvitation({ invitationId: answer.data?.id });
  answer = await owner.org.removeMember({ memberIdOrEmail: third.email });
  check("organization.removeMember", answer.data?.member?.userId === third.id, json(answer));
  answer = await owner.org.removeMember({ memberIdOrEmail: ownerEmail });
  refused("organization.removeMember of the only owner", answer, 400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");

  // ----- custom roles (dynamic access control) -------------------------------------------------------------
  const fourth = await signedUp("fourth");
  answer = await owner.org.inviteMember({ email: fourth.email, role: "member" });
  await fourth.org.acceptInvitation({ invitationId: answer.data?.id });
  const fourthMember = (await owner.org.listMembers()).data?.members?.find((m) => m.userId === fourth.id);
  answer = await owner.org.createRole({ role: "Auditor", permission: { member: ["create"] } });
  check("organization.createRole", answer.data?.success === true && answer.data?.roleData?.role === "auditor"
    && answer.data?.roleData?.organizationId === org?.id, json(answer));
  answer = await owner.org.listRoles();
  check("organization.listRoles has the role", Array.isArray(answer.data) && answer.data.some((r) => r.role === "auditor"), json(answer));
  answer = await owner.org.getRole({ query: { roleName: "auditor" } });
  check("organization.getRole", answer.data?.role === "auditor" && answer.data?.permission?.member?.[0] === "create", json(answer));
  answer = await fourth.org.createRole({ role: "mine", permission: { member: ["create"] } });
  refused("organization.createRole by a plain member", answer, 403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE");
  answer = await owner.org.updateMemberRole({ memberId: fourthMember?.id, role: "auditor" });
  check("organization.updateMemberRole to a custom role", answer.data?.role === "auditor", json(answer));
  answer = await fourth.org.hasPermission({ permissions: { member: ["create"] } });
  check("organization.hasPermission honours the custom role", answer.data?.success === true, json(answer));
  answer = await owner.org.updateRole({ roleName: "auditor", data: { permission: { member: ["update"] } } });
  check("organization.updateRole", answer.data?.success === true, json(answer));
  answer = await fourth.org.hasPermission({ permissions: { member: ["create"] } });
  check("an updated role binds at once", answer.data?.success === false, json(answer));
  answer = await owner.org.deleteRole({ roleName: "auditor" });
  refused("organization.deleteRole of a role in use", answer, 400, "ROLE_IS_ASSIGNED_TO_MEMBERS");
  answer = await owner.org.updateMemberRole({ memberId: fourthMember?.id, role: "admin" });
  answer = await fourth.org.createRole({ role: "usurper", permission: { organization: ["delete"] } });
  refused("organization.createRole above the creator's own permissions", answer, 403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE");
  answer = await owner.org.updateMemberRole({ memberId: fourthMember?.id, role: "member" });
  answer = await owner.org.deleteRole({ roleName: "auditor" });
  check("organization.deleteRole", answer.data?.success === true, json(answer));

  // ----- teams --------------------------------------------------------------------------------------------
  answer = await owner.org.createTeam({ name: "Core" });
  const core = answer.data;
  check("organization.createTeam", core?.name === "Core" && core?.organizationId === org?.id && near(core?.createdAt), json(answer));
  const ops = (await owner.org.createTeam({ name: "Ops" })).data;
  answer = await owner.org.listTeams();
  check("organization.listTeams", Array.isArray(answer.data) && answer.data.some((t) => t.id === core?.id)
    && answer.data.some((t) => t.id === ops?.id), json(answer));
  answer = await fourth.org.createTeam({ name: "Mine" });
  refused("organization.createTeam by a plain member", answer, 403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION");
  answer = await owner.org.updateTeam({ teamId: core?.id, data: { name: "Core Team" } });
  check("organization.updateTeam", answer.data?.name === "Core Team", json(answer));
  answer = await owner.org.addTeamMember({ teamId: core?.id, userId: fourth.id });
  check("organization.addTeamMember", answer.data?.teamId === core?.id && answer.data?.userId === fourth.id, json(answer));
  answer = await fourth.org.listTeamMembers({ query: { teamId: core?.id } });
  check("organization.listTeamMembers", answer.data?.length === 1 && answer.data[0].userId === fourth.id, json(answer));
  answer = await fourth.org.listUserTeams();
  check("organization.listUserTeams", answer.data?.length === 1 && answer.data[0].id === core?.id, json(answer));
  answer = await fourth.org.setActiveTeam({ teamId: core?.id });
  check("organization.setActiveTeam answers the team", answer.data?.id === core?.id, json(answer));
  answer = await fourth.client.getSession();
  check("the session carries activeTeamId", answer.data?.session?.activeTeamId === core?.id, json(answer));
  answer = await fourth.org.listTeamMembers();
  check("organization.listTeamMembers of the active team", answer.data?.length === 1, json(answer));
  answer = await fourth.org.setActiveTeam({ teamId: ops?.id });
  refused("organization.setActiveTeam to a team one is not in", answer, 403, "USER_IS_NOT_A_MEMBER_OF_THE_TEAM");
  answer = await fourth.org.setActiveTeam({ teamId: null });
  check("organization.setActiveTeam(null) answers null", answer.data === null && answer.error === null, json(answer));
  answer = await fourth.client.getSession();
  check("after setActiveTeam(null) the session has no team", answer.data?.session?.activeTeamId == null, json(answer));
  answer = await owner.org.removeTeamMember({ teamId: core?.id, userId: fourth.id });
  check("organization.removeTeamMember", answer.data?.message === "Team member removed successfully.", json(answer));
  answer = await fourth.org.listTeamMembers({ query: { teamId: core?.id } });
  refused("organization.listTeamMembers of a team one left", answer, 400, "USER_IS_NOT_A_MEMBER_OF_THE_TEAM");
  answer = await owner.org.removeTeam({ teamId: ops?.id });
  check("organization.removeTeam", answer.data?.message === "Team removed successfully.", json(answer));

  // ----- set-active ---------------------------------------------------------------------------------------
  const other = await signedUp("other");
  const otherOrg = (await other.org.create({ name: "Other", slug: `other-${run}` })).data;
  answer = await owner.org.setActive({ organizationId: otherOrg?.id });
  refused("organization.setActive to an org of which one is not a member", answer, 403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
  const before = owner.state.token ?? owner.state.cookie;
  answer = await owner.org.setActive({ organizationId: null });
  check("organization.setActive(null) answers null", answer.data === null && answer.error === null, json(answer));
  answer = await owner.client.getSession();
  check("after setActive(null) the session has no org", answer.data?.session?.activeOrganizationId === null
    && (owner.state.token ?? owner.state.cookie) !== before, json(answer));
  answer = await owner.org.setActive({ organizationId: org?.id });
  check("organization.setActive answers the org", answer.data?.id === org?.id && answer.data?.slug === slug, json(answer));
  answer = await owner.client.getSession();
  check("after setActive the client holds a session bound to the org", answer.data?.session?.activeOrganizationId === org?.id, json(answer));
  const returning = makeClient();
  await returning.client.signIn.email({ email: ownerEmail, password: PASSWORD });
  answer = await returning.client.getSession();
  check("a new signIn.email lands in the org used last", answer.data?.session?.activeOrganizationId === org?.id, json(answer));

  // ----- account -------------------------------------------------------------------------------------------
  answer = await owner.client.updateUser({ name: "Owner Renamed" });
  check("updateUser", answer.data?.status === true, json(answer));
  answer = await owner.client.getSession();
  check("updateUser is seen by getSession", answer.data?.user?.name === "Owner Renamed", json(answer));
  answer = await owner.client.$fetch("/update-user", { method: "POST", body: { email: `x-${run}@example.test` } });
  refused("update-user refuses an email change", answer, 400, "EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated");
  answer = await owner.client.changePassword({ currentPassword: "not it", newPassword: "another horse battery" });
  refused("changePassword with a wrong current password", answer, 400, "INVALID_PASSWORD", "Invalid password");
  answer = await owner.client.changePassword({ currentPassword: PASSWORD, newPassword: "short" });
  refused("changePassword to a short password", answer, 400, "PASSWORD_TOO_SHORT", "Password too short");

  const laptop = makeClient();
  await laptop.client.signIn.email({ email: ownerEmail, password: PASSWORD });
  answer = await owner.client.listSessions();
  const listed = answer.data ?? [];
  const current = (await owner.client.getSession()).data?.session;
  check("listSessions lists the live sessions, the current one with its token", listed.length >= 2
    && listed.some((s) => s.token === current?.token) && listed.every((s) => near(s.createdAt, Date.now(), 600000)), json(answer));
  answer = await owner.client.changePassword({ currentPassword: PASSWORD, newPassword: "another horse battery", revokeOtherSessions: true });
  check("changePassword with revokeOtherSessions hands over a fresh token", typeof answer.data?.token === "string"
    && answer.data?.user?.id === ownerId, json(answer));
  answer = await laptop.client.getSession();
  check("changePassword revoked the other sessions", answer.data === null, json(answer));
  answer = await owner.client.getSession();
  check("the fresh session keeps the org", answer.data?.session?.activeOrganizationId === org?.id, json(answer));

  const phone = makeClient();
  await phone.client.signIn.email({ email: ownerEmail, password: "another horse battery" });
  const phoneToken = (await phone.client.getSession()).data?.session?.token;
  const mine = (await owner.client.getSession()).data?.session?.token;
  const others = ((await owner.client.listSessions()).data ?? []).filter((s) => s.token !== mine);
  answer = await owner.client.revokeSession({ token: others[0]?.token });
  check("revokeSession by the handle listSessions gave", others.length === 1 && others[0].token !== phoneToken
    && answer.data?.status === true, json([others, answer]));
  answer = await phone.client.getSession();
  check("revokeSession ended the phone's session", answer.data === null && typeof phoneToken === "string", json(answer));
  await phone.client.signIn.email({ email: ownerEmail, password: "another horse battery" });
  answer = await owner.client.revokeOtherSessions();
  check("revokeOtherSessions", answer.data?.status === true && (await phone.client.getSession()).data === null
    && (await owner.client.getSession()).data !== null, json(answer));

  // ----- password reset ----------------------------------------------------------------------------------
  answer = await anonymous.client.requestPasswordReset({ email: second.email, redirectTo: "/reset" });
  check("requestPasswordReset", answer.data?.status === true, json(answer));
  answer = await anonymous.client.requestPasswordReset({ email: `nobody-${run}@example.test`, redirectTo: "/reset" });
  check("requestPasswordReset of an unknown email answers the same", answer.data?.status === true, json(answer));
  const sent = existsSync(outbox) ? readFileSync(outbox, "utf8").trim().split("\n").map((l) => JSON.parse(l))
    .filter((m) => m.email === second.email) : [];
  const token = sent.at(-1)?.token;
  check("the reset link reached the configured sender", typeof token === "string" && sent.at(-1).url.includes(token), json(sent));
  answer = await anonymous.client.resetPassword({ newPassword: "reset horse battery", token });
  check("resetPassword", answer.data?.status === true, json(answer));
  answer = await anonymous.client.resetPassword({ newPassword: "reset horse battery", token });
  refused("resetPassword twice with one token", answer, 400, "INVALID_TOKEN", "Invalid token");
  answer = await second.client.getSession();
  check("resetPassword revoked the user's sessions", answer.data === null, json(answer));
  answer = await second.client.signIn.email({ email: second.email, password: "reset horse battery" });
  check("signIn with the new password", answer.data?.user?.id === second.id, json(answer));

  // ----- origins and CORS (raw requests, as a browser on another site would send them) ----------------
  const cookie = owner.state.cookie;
  if (style === "cookie") {
    let r = await fetch(`${baseURL}/organization/update`, { method: "POST", headers: { cookie, origin: "https://evil.example", "content-type": "application/json" }, body: JSON.stringify({ data: { name: "Hijacked" } }) });
    let body = await r.json();
    check("a cookie POST from an untrusted origin is 403 INVALID_ORIGIN", r.status === 403 && body.code === "INVALID_ORIGIN", `${r.status} ${json(body)}`);
    r = await fetch(`${baseURL}/organization/update`, { method: "POST", headers: { cookie, "content-type": "application/json" }, body: JSON.stringify({ data: { name: "Hijacked" } }) });
    body = await r.json();
    check("a cookie POST without an Origin is 403 MISSING_OR_NULL_ORIGIN", r.status === 403 && body.code === "MISSING_OR_NULL_ORIGIN", `${r.status} ${json(body)}`);
    answer = await owner.org.getFullOrganization();
    check("the refused requests changed nothing", answer.data?.name === "Acme Renamed", json(answer));
  } else {
    const r = await fetch(`${baseURL}/organization/update`, { method: "POST", headers: { authorization: `Bearer ${owner.state.token}`, origin: "https://evil.example", "content-type": "application/json" }, body: JSON.stringify({ organizationId: org?.id, data: { name: "Acme Bearer" } }) });
    check("a bearer POST is not subject to the origin check", r.status === 200, `${r.status}`);
  }
  let r = await fetch(`${baseURL}/organization/update`, { method: "OPTIONS", headers: { origin: trustedOrigin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" } });
  check("CORS preflight from the trusted origin", r.status === 204 && r.headers.get("access-control-allow-origin") === trustedOrigin
    && r.headers.get("access-control-allow-credentials") === "true" && /POST/.test(r.headers.get("access-control-allow-methods") ?? ""), `${r.status} ${json([...r.headers])}`);
  r = await fetch(`${baseURL}/get-session`, { headers: { origin: trustedOrigin } });
  check("CORS exposes set-auth-token to the trusted origin", /set-auth-token/.test(r.headers.get("access-control-expose-headers") ?? ""), json([...r.headers]));
  r = await fetch(`${baseURL}/get-session`, { headers: { origin: "https://evil.example" } });
  check("no CORS for an untrusted origin", r.headers.get("access-control-allow-origin") === null, json([...r.headers]));

  // ----- the end: delete, sign out, revoke all -------------------------------------------------------------
  answer = await other.org.delete({ organizationId: otherOrg?.id });
  check("organization.delete", answer.data?.id === otherOrg?.id, json(answer));
  answer = await owner.client.signOut();
  check("signOut", answer.data?.success === true, json(answer));
  answer = await owner.client.getSession();
  check("getSession after signOut is null", answer.data === null && answer.error === null, json(answer));
  answer = await second.client.revokeSessions();
  check("revokeSessions", answer.data?.status === true && (await second.client.getSession()).data === null, json(answer));
  answer = await second.org.list();
  refused("a revoked session is 401 on the next call", answer, 401, "UNAUTHORIZED");
}

try {
  await main();
} catch (error) {
  check("the run finished", false, error?.stack ?? error);
}
for (const result of results) console.log(JSON.stringify(result));
process.exit(results.every((r) => r.ok) ? 0 : 1);
