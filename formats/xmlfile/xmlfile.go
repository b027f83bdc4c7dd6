// Package xmlfile reads any ISO 20022 file of the bank contract (`*.xml`):
// the Document's namespace picks the message, pacs.008 payments (Format 2)
// or pacs.007 reversals (Format 3); any other is UNSUPPORTED_FORMAT.
package xmlfile

import (
	"io"

	"settle/formats"
	"settle/formats/isoxml"
	"settle/formats/pacs007"
	"settle/formats/pacs008"
	"settle/settlement"
)

// Messages are the messages an *.xml file may hold.
var Messages = []*isoxml.Message{pacs008.Message, pacs007.Message}

// Parse reads one ISO 20022 file and reports it to sink. It returns an
// error only when r itself fails.
func Parse(r io.Reader, lim formats.Limits, sink settlement.Sink) error {
	return isoxml.Parse(r, lim, sink, Messages...)
}
