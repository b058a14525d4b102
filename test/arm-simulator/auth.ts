// Microsoft Entra (AAD) and managed-identity token endpoints, and the bearer check ARM applies.
// Tokens are opaque random strings: clients never look inside access tokens, only ARM does.
import { randomBytes } from 'node:crypto';
import { ArmError } from './model.ts';
import type { SimRequest, SimResponse } from './http.ts';

const TOKEN_LIFETIME_SECONDS = 3600;
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface Principal {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export class TokenStore {
  private readonly expiry = new Map<string, number>();

  issue(): string {
    const token = randomBytes(32).toString('base64url');
    this.expiry.set(token, Date.now() + TOKEN_LIFETIME_SECONDS * 1000);
    return token;
  }

  /** Throws the 401 ARM gives when the Authorization header is missing or not one of ours. */
  requireBearer(request: SimRequest): void {
    const header = request.headers.authorization;
    if (header === undefined) {
      throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    }
    const token = /^Bearer (\S+)$/i.exec(header)?.[1];
    const expiresAt = token === undefined ? undefined : this.expiry.get(token);
    if (expiresAt === undefined || expiresAt < Date.now()) {
      throw new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
    }
  }
}

export function openIdConfiguration(principal: Principal, tenant: string, baseUrl: string): SimResponse {
  if (tenant.toLowerCase() !== principal.tenantId.toLowerCase()) return unknownTenant(tenant);
  const authority = `${baseUrl}/${tenant}`;
  return {
    status: 200,
    body: {
      issuer: `${authority}/v2.0`,
      token_endpoint: `${authority}/oauth2/v2.0/token`,
      authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
      end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
      jwks_uri: `${authority}/discovery/v2.0/keys`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      tenant_region_scope: 'EU',
    },
  };
}

/**
 * Client credentials with a secret (checked against the configured principal) or with a client
 * assertion: a certificate-signed JWT or a federated (workload identity) token. Assertions are
 * accepted when they are JWT-shaped; their signatures are not checked.
 */
export function aadToken(principal: Principal, tenant: string, request: SimRequest, tokens: TokenStore): SimResponse {
  if (tenant.toLowerCase() !== principal.tenantId.toLowerCase()) return unknownTenant(tenant);
  const form = new URLSearchParams(request.body);
  if (form.get('grant_type') !== 'client_credentials') {
    return aadError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
  }
  const clientId = form.get('client_id') ?? '';
  const assertion = form.get('client_assertion');
  if (assertion !== null) {
    if (form.get('client_assertion_type') !== JWT_BEARER || !looksLikeJwt(assertion)) {
      return aadError(401, 'invalid_client', 50027, 'Invalid JWT token. The token is not in a valid format.');
    }
  } else if (clientId !== principal.clientId) {
    return aadError(401, 'invalid_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
  } else if (form.get('client_secret') !== principal.clientSecret) {
    return aadError(401, 'invalid_client', 7000215, 'Invalid client secret provided.');
  }
  return {
    status: 200,
    body: {
      token_type: 'Bearer',
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: tokens.issue(),
    },
  };
}

/** The IMDS managed-identity endpoint; any identity selector (client_id, msi_res_id...) is granted. */
export function managedIdentityToken(request: SimRequest, tokens: TokenStore): SimResponse {
  if (!hasMetadataHeader(request)) return imdsError(400, 'invalid_request', 'Required metadata header not specified');
  const resource = request.query.get('resource');
  if (!resource) return imdsError(400, 'invalid_request', 'Required query variable resource is missing');
  const now = Math.floor(Date.now() / 1000);
  return {
    status: 200,
    body: {
      access_token: tokens.issue(),
      client_id: request.query.get('client_id') ?? '00000000-0000-0000-0000-0000000000ff',
      expires_in: String(TOKEN_LIFETIME_SECONDS),
      expires_on: String(now + TOKEN_LIFETIME_SECONDS),
      ext_expires_in: String(TOKEN_LIFETIME_SECONDS),
      not_before: String(now),
      resource,
      token_type: 'Bearer',
    },
  };
}

export function hasMetadataHeader(request: SimRequest): boolean {
  return String(request.headers['metadata']).toLowerCase() === 'true';
}

export function imdsError(status: number, error: string, description: string): SimResponse {
  return { status, body: { error, error_description: description } };
}

function looksLikeJwt(value: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(value);
}

function unknownTenant(tenant: string): SimResponse {
  return aadError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found.`);
}

function aadError(status: number, error: string, aadsts: number, description: string): SimResponse {
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${aadsts}: ${description}`,
      error_codes: [aadsts],
      timestamp: new Date().toISOString(),
    },
  };
}
