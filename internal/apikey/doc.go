// Package apikey makes and hashes the bearer keys of the API. A key is 160
// random bits with a readable prefix saying what it opens; only its SHA-256
// is stored. A fast hash is right here (unlike for passwords): the input has
// full entropy, so there is nothing to guess and no dictionary to try.
package apikey
