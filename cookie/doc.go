// Package cookie is the claim cookie: what it holds, how it is signed and verified, and how a click
// decides between claiming, keeping and protecting (docs/rules.md §1).
//
// A cookie value is KEYID "." base64url(payload) "." base64url(HMAC-SHA256(program, KEYID "." payload)).
// The program's name is inside the signed text, so a cookie copied from one program to another does
// not verify. Signing uses the newest key; verification accepts any configured key and compares MACs
// in constant time. The package knows nothing of HTTP servers or storage: it works on bytes and
// times, and its Signer is safe for concurrent use.
package cookie
