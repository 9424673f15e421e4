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

const [port, trustedOrigin, outbox] = process.argv.slice(2);
const db = { user: [], session: [], account: [], verification: [], organization: [], member: [], invitation: [] };
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
  plugins: [organization(), bearer()],
  logger: { disabled: true },
});
http.createServer(toNodeHandler(auth)).listen(Number(port), "127.0.0.1", () => console.log("listening"));
