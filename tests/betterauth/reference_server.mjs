// A real Better Auth server (the pinned package, its memory adapter, the organization and bearer plugins),
// for comparing Atlas with it: tests/test_better_auth_client.py runs client_checks.mjs against both.
//
//   node reference_server.mjs <port> <trustedOrigin> <outboxFile>
import { appendFileSync } from "node:fs";
import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { bearer, organization } from "better-auth/plugins";
import { defaultAc, defaultRoles } from "better-auth/plugins/organization/access";

const [port, trustedOrigin, outbox] = process.argv.slice(2);
const db = { user: [], session: [], account: [], verification: [], organization: [], member: [], invitation: [],
  team: [], teamMember: [], organizationRole: [] };
const auth = betterAuth({
  baseURL: `http://127.0.0.1:${port}`,
  secret: "reference-server-secret-0123456789abcdef",
  database: memoryAdapter(db),
  trustedOrigins: [trustedOrigin],
  rateLimit: { enabled: false },
  emailAndPassword: {
    enabled: true,
    revokeSessionsOnPasswordReset: true,
    sendResetPassword: async ({ user, url, token }) => {
      appendFileSync(outbox, `${JSON.stringify({ email: user.email, url, token })}\n`);
    },
  },
  // Teams and dynamic access control as Atlas serves them: no default team per org, and every team removable.
  plugins: [organization({ ac: defaultAc, roles: defaultRoles, dynamicAccessControl: { enabled: true },
                           teams: { enabled: true, defaultTeam: { enabled: false }, allowRemovingAllTeams: true } }),
            bearer()],
  logger: { disabled: true },
});
http.createServer(toNodeHandler(auth)).listen(Number(port), "127.0.0.1", () => console.log("listening"));
