// Package netguard keeps the connections that tenants' settings make
// (webhooks, their own delivery servers) off the operator's loopback and
// private networks: a tenant must not be able to make waymark probe them.
// The check is made on the address actually dialled, after DNS, so a name
// that resolves to 127.0.0.1 is caught too.
package netguard
