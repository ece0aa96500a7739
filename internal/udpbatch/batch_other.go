//go:build !linux

package udpbatch

import "net"

// newBatchConn returns nil: outside Linux, x/net's ReadBatch and
// WriteBatch move one datagram per call and save nothing, so c is read and
// written singly.
func newBatchConn(c *net.UDPConn) batchConn { return nil }

// enableOffload reports false: UDP GRO and GSO are Linux's.
func enableOffload(c *net.UDPConn) bool { return false }

const oobSize = 0

func segmentOf([]byte) int { return 0 }

func appendSegment(b []byte, seg int) []byte { return b }

// StopGRO does nothing: UDP GRO is Linux's.
func StopGRO(net.PacketConn) {}
