//go:build !linux

package listener

import "net"

// directIO is Linux only; elsewhere connections read and write through the net package.
type directIO struct{ net.Conn }

func newDirectIO(net.Conn) *directIO { return nil }
