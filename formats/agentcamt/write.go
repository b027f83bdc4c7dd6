package agentcamt

import (
	"io"
	"strconv"
	"time"

	"settle/formats/isowrite"
	"settle/settlement"
)

// Namespace054 is camt.054.001.08's.
const Namespace054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"

// Notification is a camt.054.001.08 the agent writes: the bookings of
// the scheme's settlement account. The scheme does not write it; the
// agent simulator of the demo and the tests do.
type Notification struct {
	MsgID    string
	Created  time.Time
	Account  string // the settlement account (Acct/Id/Othr/Id)
	Bookings []Booking
}

// WriteNotification writes n, valid against camt.054.001.08: a booking
// with Rejected set is written with Sts INFO and RtrInf/Rsn/Cd.
func WriteNotification(w io.Writer, n Notification) error {
	x := isowrite.New(w)
	x.Raw(isowrite.Declaration)
	x.Raw(`<Document xmlns="` + Namespace054 + `">` + "\n")
	x.Open(1, "BkToCstmrDbtCdtNtfctn")
	x.Open(2, "GrpHdr")
	x.Elem(3, "MsgId", n.MsgID, 35)
	x.Elem(3, "CreDtTm", n.Created.Format(time.RFC3339), 0)
	x.Close(2, "GrpHdr")
	x.Open(2, "Ntfctn")
	x.Elem(3, "Id", n.MsgID, 35)
	x.Open(3, "Acct")
	x.Raw("        <Id><Othr>")
	x.Elem(0, "Id", n.Account, 34)
	x.Raw("        </Othr></Id>\n")
	x.Close(3, "Acct")
	for i, b := range n.Bookings {
		x.Open(3, "Ntry")
		x.Amt(4, "Amt", b.Amount, b.Currency)
		fam := "ICDT"
		if b.Credit {
			x.Raw("        <CdtDbtInd>CRDT</CdtDbtInd>\n")
			fam = "RCDT"
		} else {
			x.Raw("        <CdtDbtInd>DBIT</CdtDbtInd>\n")
		}
		status := b.Status
		if status == "" {
			status = "BOOK"
		}
		x.Raw("        <Sts><Cd>" + status + "</Cd></Sts>\n")
		if b.ValueDate != "" {
			x.Raw("        <BookgDt><Dt>" + string(b.ValueDate) + "</Dt></BookgDt>\n")
			x.Raw("        <ValDt><Dt>" + string(b.ValueDate) + "</Dt></ValDt>\n")
		}
		x.Elem(4, "AcctSvcrRef", n.MsgID+"-"+strconv.Itoa(i+1), 35)
		x.Raw("        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>" + fam + "</Cd><SubFmlyCd>FICT</SubFmlyCd></Fmly></Domn></BkTxCd>\n")
		x.Raw("        <NtryDtls><TxDtls>\n")
		x.Raw("          <Refs>")
		if b.EndToEndID != "" {
			x.Elem(0, "EndToEndId", b.EndToEndID, 35)
		}
		if b.UETR != "" {
			x.Elem(0, "UETR", b.UETR, 36)
		}
		x.Raw("          </Refs>\n")
		if b.Rejected != "" {
			x.Raw("          <RtrInf><Rsn>")
			x.Elem(0, "Cd", b.Rejected, 4)
			x.Raw("          </Rsn></RtrInf>\n")
		}
		x.Raw("        </TxDtls></NtryDtls>\n")
		x.Close(3, "Ntry")
	}
	x.Close(2, "Ntfctn")
	x.Close(1, "BkToCstmrDbtCdtNtfctn")
	x.Raw("</Document>\n")
	return x.Flush()
}

// FromInstruction is the booking an agent makes of an instruction as
// written: a pay-in credits the settlement account, a pay-out debits it.
func FromInstruction(i settlement.Instruction, date settlement.Date) Booking {
	return Booking{EndToEndID: i.EndToEndID(), UETR: i.UETR(), Amount: i.Amount, Currency: i.Currency, Credit: i.PayIn, Status: "BOOK", ValueDate: date}
}
