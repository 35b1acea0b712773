// gowitness talks to a C2SP witness the way a non-Quorate log does, with Go's own
// golang.org/x/mod/sumdb/note and sumdb/tlog, and checks and makes cosignature/v1
// signatures with nothing but crypto/ed25519 and the C2SP tlog-cosignature spec.
//
//	gowitness keygen SKEY_FILE NAME      log key (note.GenerateKey); prints the vkey
//	gowitness drive URL WITNESS_VKEY OLD SKEY_FILE[,SKEY_FILE...] SIZE...
//	    builds a sumdb-shaped log (origin "go.sum database tree", tlog.FormatTree), and for
//	    each SIZE signs its checkpoint with every given key, POSTs URL/add-checkpoint with a
//	    tlog.ProveTree consistency proof from the previous size (OLD at first), and
//	    verifies the returned cosignature against WITNESS_VKEY; prints "ok SIZE".
//	gowitness cosign NAME SEED_HEX NOTE_FILE TIME
//	    prints the vkey of the cosigner key (seed), then a cosignature/v1 line over the
//	    note's text at TIME.
//	gowitness verify WITNESS_VKEY NOTE_FILE
//	    verifies every line of NOTE_FILE signed by WITNESS_VKEY as a cosignature/v1;
//	    prints "ok TIME" per line, fails if there is none or one does not verify.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
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
	fmt.Fprintf(os.Stderr, "gowitness: "+format+"\n", args...)
	os.Exit(1)
}

func keyID(name string, typ byte, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', typ})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// parseCosignerVkey parses a vkey of type 0x04 and checks its key ID (tlog-cosignature).
func parseCosignerVkey(vkey string) (string, uint32, ed25519.PublicKey) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		die("vkey %q: want name+id+key", vkey)
	}
	id, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		die("vkey %q: bad key ID", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		die("vkey %q: want base64(0x04 || 32-byte key)", vkey)
	}
	pub := ed25519.PublicKey(raw[1:])
	if keyID(parts[0], 0x04, pub) != uint32(id) {
		die("vkey %q: key ID does not match SHA-256(name || \\n || 0x04 || key)[:4]", vkey)
	}
	return parts[0], uint32(id), pub
}

func cosignedMessage(text string, t uint64) []byte {
	return []byte(fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, text))
}

// splitNote returns the note text (through its final newline) and its signature lines.
func splitNote(msg string) (string, []string) {
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 {
		die("note has no blank line")
	}
	sigs := strings.Split(strings.TrimSuffix(msg[i+2:], "\n"), "\n")
	return msg[:i+1], sigs
}

// verifyLine checks one signature line against the cosigner; ok=false if it is not this
// cosigner's line at all.
func verifyLine(line, text, name string, id uint32, pub ed25519.PublicKey) (uint64, bool) {
	if !strings.HasPrefix(line, "— ") {
		die("signature line %q does not start with an em dash", line)
	}
	rest := strings.TrimPrefix(line, "— ")
	lname, b64, found := strings.Cut(rest, " ")
	if !found {
		die("signature line %q has no signature", line)
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sig) < 4 {
		die("signature line %q: bad base64", line)
	}
	if lname != name || binary.BigEndian.Uint32(sig[:4]) != id {
		return 0, false
	}
	if len(sig) != 4+8+64 {
		die("cosignature is %d bytes, want 76 (key ID, timestamp, Ed25519)", len(sig))
	}
	t := binary.BigEndian.Uint64(sig[4:12])
	if t >= 1<<63 {
		die("cosignature timestamp %d exceeds 2^63-1", t)
	}
	if !ed25519.Verify(pub, cosignedMessage(text, t), sig[12:]) {
		die("cosignature by %s over %q does not verify", name, text)
	}
	return t, true
}

type log struct {
	hashes []tlog.Hash
	n      int64
}

func (l *log) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *log) grow(to int64) {
	for ; l.n < to; l.n++ {
		h, err := tlog.StoredHashes(l.n, []byte(fmt.Sprintf("go.sum line %d", l.n)), l)
		if err != nil {
			die("StoredHashes: %v", err)
		}
		l.hashes = append(l.hashes, h...)
	}
}

func main() {
	if len(os.Args) < 2 {
		die("usage: see the source")
	}
	switch os.Args[1] {
	case "keygen":
		skey, vkey, err := note.GenerateKey(rand.Reader, os.Args[3])
		if err != nil {
			die("GenerateKey: %v", err)
		}
		must(os.WriteFile(os.Args[2], []byte(skey), 0o600))
		fmt.Println(vkey)
	case "drive":
		old, err := strconv.ParseInt(os.Args[4], 10, 64)
		must(err)
		drive(os.Args[2], os.Args[3], old, strings.Split(os.Args[5], ","), os.Args[6:])
	case "cosign":
		seed, err := hex.DecodeString(os.Args[3])
		if err != nil || len(seed) != 32 {
			die("seed must be 32 bytes of hex")
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		name := os.Args[2]
		msg, err := os.ReadFile(os.Args[4])
		must(err)
		text, _ := splitNote(string(msg))
		t, err := strconv.ParseUint(os.Args[5], 10, 63)
		must(err)
		sig := make([]byte, 12, 76)
		binary.BigEndian.PutUint32(sig, keyID(name, 0x04, pub))
		binary.BigEndian.PutUint64(sig[4:], t)
		sig = append(sig, ed25519.Sign(priv, cosignedMessage(text, t))...)
		fmt.Printf("%s+%08x+%s\n", name, keyID(name, 0x04, pub),
			base64.StdEncoding.EncodeToString(append([]byte{0x04}, pub...)))
		fmt.Printf("— %s %s\n", name, base64.StdEncoding.EncodeToString(sig))
	case "verify":
		name, id, pub := parseCosignerVkey(os.Args[2])
		msg, err := os.ReadFile(os.Args[3])
		must(err)
		text, sigs := splitNote(string(msg))
		n := 0
		for _, line := range sigs {
			if t, ok := verifyLine(line, text, name, id, pub); ok {
				fmt.Printf("ok %d\n", t)
				n++
			}
		}
		if n == 0 {
			die("no cosignature by %s", name)
		}
	default:
		die("unknown command %q", os.Args[1])
	}
}

func must(err error) {
	if err != nil {
		die("%v", err)
	}
}

func drive(url, witnessVkey string, old int64, skeys []string, sizes []string) {
	wname, wid, wpub := parseCosignerVkey(witnessVkey)
	var signers []note.Signer
	for _, f := range skeys {
		skey, err := os.ReadFile(f)
		must(err)
		s, err := note.NewSigner(strings.TrimSpace(string(skey)))
		must(err)
		signers = append(signers, s)
	}
	l := &log{}
	for _, arg := range sizes {
		size, err := strconv.ParseInt(arg, 10, 64)
		must(err)
		l.grow(size)
		root, err := tlog.TreeHash(size, l)
		must(err)
		text := tlog.FormatTree(tlog.Tree{N: size, Hash: root})
		if !bytes.HasPrefix(text, []byte("go.sum database tree\n")) {
			die("FormatTree gave %q", text)
		}
		signed, err := note.Sign(&note.Note{Text: string(text)}, signers...)
		must(err)
		var body bytes.Buffer
		fmt.Fprintf(&body, "old %d\n", old)
		if old > 0 {
			proof, err := tlog.ProveTree(size, old, l)
			must(err)
			for _, h := range proof {
				fmt.Fprintf(&body, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
			}
		}
		body.WriteString("\n")
		body.Write(signed)
		resp, err := http.Post(url+"/add-checkpoint", "text/plain", &body)
		must(err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(err)
		if resp.StatusCode != 200 {
			die("add-checkpoint size %d: status %d: %s", size, resp.StatusCode, got)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
			if _, ok := verifyLine(line, string(text), wname, wid, wpub); ok {
				n++
			}
		}
		if n != 1 {
			die("size %d: %d cosignatures by %s in %q", size, n, wname, got)
		}
		fmt.Printf("ok %d\n", size)
		old = size
	}
}
