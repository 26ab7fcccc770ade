// Minting dbcore client tokens in the application (strict mode): the
// format dbcore verifies, src/client_token.c:
//   v1.<key id>.<client id, base64url>.<expiry, Unix seconds>.<mac, base64url>
// mac = HMAC-SHA-256(secret, everything before the last dot); the secret is
// the base64 value of the key in dbcore.signing_keys ("key_id:secret").
import { createHmac } from 'node:crypto';

export function mintClientToken(signingKey: string, clientId: string, ttlSeconds = 300): string {
  const colon = signingKey.indexOf(':');
  const keyId = signingKey.slice(0, colon);
  const secret = Buffer.from(signingKey.slice(colon + 1), 'base64');
  const expiry = Math.floor(Date.now() / 1000) + ttlSeconds;
  const body = `v1.${keyId}.${Buffer.from(clientId).toString('base64url')}.${expiry}`;
  const mac = createHmac('sha256', secret).update(body).digest('base64url');
  return `${body}.${mac}`;
}
