package core

import (
	"bufio"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapFile writes one link's packets, both directions, as raw IP.
type pcapFile struct {
	mu sync.Mutex
	f  *os.File
	bw *bufio.Writer
	w  *pcapgo.Writer
}

func openPcap(dir, name string) (*pcapFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name+".pcap"))
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		f.Close()
		return nil, err
	}
	return &pcapFile{f: f, bw: bw, w: w}, nil
}

func (p *pcapFile) write(data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(data), Length: len(data)}, data)
}

func (p *pcapFile) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.bw.Flush(); err != nil {
		p.f.Close()
		return err
	}
	return p.f.Close()
}
