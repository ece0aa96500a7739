package punch

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/punchkit/punch/secure"
)

// Two programs that share a key reach each other: one listens, the other
// dials. Here both run in one process against a punch server on
// loopback; across NATs the code is the same.
func ExampleDial() {
	cfg, stop, err := loopbackServer() // in real use: &Config{Server: "rv.example.net"}
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key := secure.NewKey() // give it to the other side

	go func() {
		c, err := Listen(ctx, key, cfg)
		if err != nil {
			log.Print(err)
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo
	}()

	c, err := Dial(ctx, key, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "hello through the NATs")
	buf := make([]byte, 22)
	if _, err := io.ReadFull(c, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(buf))
	// Output: hello through the NATs
}

// Connect returns the session itself, which carries streams both ways,
// and says which path won.
func ExampleConnect() {
	cfg, stop, err := loopbackServer()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	cfg.Paths = []Path{PathRelay} // force the relay, to show it
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key := secure.NewKey()

	peer := make(chan *Session, 1)
	go func() {
		s, err := Connect(ctx, key, cfg)
		if err != nil {
			log.Print(err)
		}
		peer <- s
	}()
	s, err := Connect(ctx, key, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	other := <-peer
	if other == nil {
		return
	}
	defer other.Close()
	fmt.Println(s.Path(), other.Path())
	// Output: relay relay
}
