// tilecheck reads a Quorate node's log the way an independent client does, with Go's own
// golang.org/x/mod/sumdb/tlog and sumdb/note: it verifies the checkpoint signature, then
// authenticates every tile it needs against the checkpoint root (tlog.TileHashReader),
// recomputes the tree hash, and checks an inclusion proof for every entry from the entry
// bundles and a consistency proof from every smaller size it is given.
//
//	tilecheck BASE_URL LOG_VKEY [OLD_SIZE:OLD_ROOT_B64]...
//
// Prints "ok <size> <root>" and exits 0, or names what failed and exits 1.
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tilecheck: "+format+"\n", args...)
	os.Exit(1)
}

func get(url string) []byte {
	resp, err := http.Get(url)
	if err != nil {
		die("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		die("GET %s: %v", url, err)
	}
	if resp.StatusCode != 200 {
		die("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	return body
}

// c2spPath maps Go's tile path (tile/H/L/N[.p/W], data tiles at L = "data") to C2SP
// tlog-tiles (tile/L/N[.p/W], tile/entries/N[.p/W]); the N grouping is the same.
func c2spPath(t tlog.Tile) string {
	p := t.Path()
	prefix := fmt.Sprintf("tile/%d/", t.H)
	if !strings.HasPrefix(p, prefix) {
		die("unexpected Go tile path %s", p)
	}
	rest := strings.TrimPrefix(p, prefix)
	if strings.HasPrefix(rest, "data/") {
		return "tile/entries/" + strings.TrimPrefix(rest, "data/")
	}
	return "tile/" + rest
}

type reader struct{ base string }

func (r reader) Height() int { return 8 }

func (r reader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		out[i] = get(r.base + "/" + c2spPath(t))
	}
	return out, nil
}

func (r reader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func main() {
	if len(os.Args) < 3 {
		die("usage: tilecheck BASE_URL LOG_VKEY [OLD_SIZE:OLD_ROOT]...")
	}
	base := strings.TrimRight(os.Args[1], "/")
	verifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		die("vkey: %v", err)
	}
	n, err := note.Open(get(base+"/checkpoint"), note.VerifierList(verifier))
	if err != nil {
		die("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		die("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		die("checkpoint size: %v", err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		die("checkpoint root: %v", err)
	}
	if size == 0 {
		// Go's tlog gives the empty tree a zero hash; RFC 6962 says SHA-256 of nothing.
		if root != tlog.Hash(sha256.Sum256(nil)) {
			die("empty tree root %v is not SHA-256(\"\")", root)
		}
		fmt.Printf("ok 0 %s\n", root)
		return
	}
	tree := tlog.Tree{N: size, Hash: root}
	r := reader{base}
	hr := tlog.TileHashReader(tree, r)
	th, err := tlog.TreeHash(size, hr)
	if err != nil {
		die("tree hash from tiles: %v", err)
	}
	if th != root {
		die("tree hash from tiles %v != checkpoint root %v", th, root)
	}
	// Every entry, from the entry bundles, is included at its index.
	for start := int64(0); start < size; start += 256 {
		w := size - start
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: 8, L: -1, N: start / 256, W: int(w)}
		bundle := get(base + "/" + c2spPath(t))
		for i := int64(0); i < w; i++ {
			if len(bundle) < 2 {
				die("entry bundle %d truncated at entry %d", t.N, i)
			}
			l := int(binary.BigEndian.Uint16(bundle))
			if len(bundle) < 2+l {
				die("entry bundle %d truncated in entry %d", t.N, i)
			}
			entry := bundle[2 : 2+l]
			bundle = bundle[2+l:]
			idx := start + i
			proof, err := tlog.ProveRecord(size, idx, hr)
			if err != nil {
				die("prove record %d: %v", idx, err)
			}
			if err := tlog.CheckRecord(proof, size, root, idx, tlog.RecordHash(entry)); err != nil {
				die("record %d: %v", idx, err)
			}
		}
		if len(bundle) != 0 {
			die("entry bundle %d has %d trailing bytes", t.N, len(bundle))
		}
	}
	// Earlier checkpoints are prefixes of this tree.
	for _, arg := range os.Args[3:] {
		parts := strings.SplitN(arg, ":", 2)
		if len(parts) != 2 {
			die("bad OLD_SIZE:OLD_ROOT %q", arg)
		}
		old, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			die("old size %q: %v", parts[0], err)
		}
		raw, err := base64.StdEncoding.DecodeString(parts[1])
		if err != nil || len(raw) != tlog.HashSize {
			die("old root %q", parts[1])
		}
		var oldRoot tlog.Hash
		copy(oldRoot[:], raw)
		proof, err := tlog.ProveTree(size, old, hr)
		if err != nil {
			die("prove tree %d -> %d: %v", old, size, err)
		}
		if err := tlog.CheckTree(proof, size, root, old, oldRoot); err != nil {
			die("consistency %d -> %d: %v", old, size, err)
		}
	}
	fmt.Printf("ok %d %s\n", size, root)
}
