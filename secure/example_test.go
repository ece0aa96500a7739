package secure_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/punchkit/punch/secure"
)

func ExampleHandshake() {
	key := secure.NewKey() // shown to the user, typed in on the other side
	_ = secure.Token(key)  // what both register under at the rendezvous server
	a, b := net.Pipe()     // stands for a punched TCP connection
	go func() {
		c, err := secure.Handshake(context.Background(), b, key, nil) // responder
		if err != nil {
			return
		}
		defer c.Close()
		msg, _ := io.ReadAll(c) // until the initiator's CloseWrite
		fmt.Fprintf(c, "%d bytes received", len(msg))
	}()
	c, err := secure.Handshake(context.Background(), a, key, &secure.Config{Initiator: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Write([]byte("hello through the tunnel"))
	c.CloseWrite()
	echo, _ := io.ReadAll(c)
	fmt.Printf("%s\n", echo)
	// Output: 24 bytes received
}
