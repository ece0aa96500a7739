// Package session establishes an authenticated, encrypted connection with
// a peer through NATs in one call: it meets the peer at a rendezvous
// server (package rendezvous), punches a path (TCP simultaneous open with
// package tcppunch, or UDP with package udppunch), and secures it with the
// shared key (package secure over TCP, a QUIC tunnel over UDP with package
// tunnel). It also does the same without any server when both sides know
// each other's address and port (manual and serverless modes).
package session
