package chaincode

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
)

// A part may come compressed (issue 18): a part's bytes are in its
// transaction twice (the argument and the write), then on every orderer and
// in every peer's blocks and state, so they are most of what a payment costs
// the network. PutFilePart's optional seventh argument "deflate" says the part
// is a raw DEFLATE stream (RFC 1951); it is stored as it came, and the file's
// bytes are what it inflates to: the running digest, the CSV record boundary,
// the limits, the parser, GetFilePart and the auditor all see those. Every
// part of a file has the encoding of its first. Inflating is deterministic,
// so every endorser reads the same bytes; a stream that inflates to more than
// partBytesMax, is malformed, or has bytes after its end is refused: what is
// stored is the file and nothing else.
const encDeflate = "deflate"

// partBytes answers the file bytes a part's argument carries.
func partBytes(st *FileState, index int, arg, enc string) (string, error) {
	if enc != "" && enc != encDeflate {
		return "", refuse(CodeBadArgs, "encoding %q: a part comes as it is (\"\") or %q", clip(enc), encDeflate)
	}
	if index > 0 && index == st.Parts && enc != st.Encoding {
		return "", refuse(CodeBadArgs, "file %s/%s: its first part came with encoding %q, part %d with %q; every part of a file comes alike", st.Sender, st.FileID, st.Encoding, index, enc)
	}
	if enc == "" {
		return arg, nil
	}
	b, err := inflate([]byte(arg), partBytesMax)
	if err != nil {
		return "", refuse(CodeInvalid, "part %d of %s/%s is not a deflate stream of at most %d bytes: %v", index, st.Sender, st.FileID, partBytesMax, err)
	}
	if len(b) == 0 {
		return "", refuse(CodeLimit, "a part is 1..%d bytes, part %d of %s/%s inflates to none", partBytesMax, index, st.Sender, st.FileID)
	}
	return string(b), nil
}

// storedPart answers a stored part's file bytes.
func storedPart(enc string, b []byte) ([]byte, error) {
	if enc != encDeflate {
		return b, nil
	}
	return inflate(b, partBytesMax)
}

// inflate reads a whole raw DEFLATE stream of at most limit bytes, and
// nothing after it.
func inflate(b []byte, limit int) ([]byte, error) {
	in := bytes.NewReader(b) // an io.ByteReader: flate reads no further than the stream's end
	r := flate.NewReader(in)
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("it inflates to more than %d bytes", limit)
	}
	if in.Len() > 0 {
		return nil, fmt.Errorf("%d bytes follow the end of the stream", in.Len())
	}
	return out, nil
}
