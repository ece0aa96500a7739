//go:build !linux

package udpbatch

import "net"

// newBatchConn returns nil: outside Linux, x/net's ReadBatch and
// WriteBatch move one datagram per call and save nothing, so c is read and
// written singly.
func newBatchConn(c *net.UDPConn) batchConn { return nil }
