// notetool drives Go's golang.org/x/mod/sumdb/note so that Quorate's tests can check
// interoperability in both directions against the reference implementation.
//
//	notetool generate NAME            prints skey and vkey, one per line
//	notetool sign SKEY < text         prints the signed note
//	notetool verify VKEY... < note    prints the verified text, or exits 1
package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func die(err error) {
	fmt.Fprintln(os.Stderr, "notetool:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		die(fmt.Errorf("usage: notetool generate NAME | sign SKEY | verify VKEY..."))
	}
	switch os.Args[1] {
	case "generate":
		skey, vkey, err := note.GenerateKey(rand.Reader, os.Args[2])
		if err != nil {
			die(err)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
	case "sign":
		signer, err := note.NewSigner(os.Args[2])
		if err != nil {
			die(err)
		}
		text, err := io.ReadAll(os.Stdin)
		if err != nil {
			die(err)
		}
		msg, err := note.Sign(&note.Note{Text: string(text)}, signer)
		if err != nil {
			die(err)
		}
		os.Stdout.Write(msg)
	case "verify":
		var vs []note.Verifier
		for _, k := range os.Args[2:] {
			v, err := note.NewVerifier(k)
			if err != nil {
				die(err)
			}
			vs = append(vs, v)
		}
		msg, err := io.ReadAll(os.Stdin)
		if err != nil {
			die(err)
		}
		n, err := note.Open(msg, note.VerifierList(vs...))
		if err != nil {
			die(err)
		}
		for _, s := range n.Sigs {
			fmt.Fprintf(os.Stderr, "verified %s+%08x\n", s.Name, s.Hash)
		}
		os.Stdout.Write([]byte(n.Text))
	default:
		die(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}
