// Package realip finds the address of the client behind the operator's own
// reverse proxies or load balancers (serve --trusted-proxy). A request
// whose peer is one of them carries the client in X-Forwarded-For, each
// proxy appending the address it got the request from; the client is the
// rightmost address there that is not a trusted proxy. Nothing is read
// from a request whose peer is not trusted, so nobody can choose the
// address the edge records or the API throttles by sending the header.
package realip
