package fabric

import (
	"bytes"
	"compress/flate"
)

// PartRawMax is the most file bytes the chaincode takes in one part
// (its partBytesMax), whatever the part's encoding.
const PartRawMax = 1 << 20

// Part is one part of a file as it is sent: Raw is the file's bytes, Sent
// what goes in the transaction, Encoding "deflate" when Sent is Raw
// compressed (raw DEFLATE, RFC 1951) and "" when it is Raw itself.
type Part struct {
	Raw, Sent []byte
	Encoding  string
}

// compressPart compresses a part when that makes it smaller.
func compressPart(raw []byte) Part {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.DefaultCompression)
	if err == nil {
		_, err = w.Write(raw)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil || b.Len() >= len(raw) {
		return Part{Raw: raw, Sent: raw}
	}
	return Part{Raw: raw, Sent: b.Bytes(), Encoding: "deflate"}
}

// PartsOf cuts a file into the parts PutFile sends (issue 18): each part's
// bytes are in its transaction twice, so what bounds a transaction is what
// it carries, at most partBytes (PartBytesDefault when 0 or over
// PartBytesMax), not the file bytes it stands for. So the file is cut in as
// few parts as compress each to at most partBytes: at most PartRawMax of
// the file a part, then half that, and so on, down to parts of partBytes
// file bytes, which fit as they are and go so when compressing does not
// make every one of them smaller (every part of a file has one encoding). The same file always gives the same
// parts, so a client that resumes after a crash sends what the ledger
// expects.
func PartsOf(format string, body []byte, partBytes int) ([]Part, error) {
	if partBytes <= 0 || partBytes > PartBytesMax {
		partBytes = PartBytesDefault
	}
	for raw := PartRawMax; ; raw /= 2 {
		raw = max(raw, partBytes)
		cut, err := cutParts(format, body, raw)
		if err != nil {
			return nil, err
		}
		out := make([]Part, len(cut))
		fits := true
		for i, c := range cut {
			out[i] = compressPart(c)
			fits = fits && out[i].Encoding != "" && len(out[i].Sent) <= partBytes
		}
		if fits {
			return out, nil
		}
		if raw == partBytes {
			// Every part of a file has one encoding: when compressing does
			// not make every part smaller, the file goes as it is.
			for i, c := range cut {
				out[i] = Part{Raw: c, Sent: c}
			}
			return out, nil
		}
	}
}
