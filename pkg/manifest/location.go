package manifest

import (
	"strconv"
	"strings"
)

// DocumentError is an error in one document of a manifest stream: it could
// not be parsed, or an object of a kind that is used could not be decoded.
// Use errors.As to tell it from I/O errors.
type DocumentError struct {
	// File names the stream: a file path, or "stdin".
	File string
	// Document is the 1-based number of the document in the stream; YAML
	// documents are separated by "---" lines, JSON ones are concatenated.
	Document int
	// Item locates the object inside a List, as "items[2]" or, in nested
	// Lists, "items[0].items[2]"; empty for a document that is not a List.
	Item string
	// Err is what is wrong.
	Err error
}

// Error returns "reading FILE: document N: [ITEM: ]ERR".
func (e *DocumentError) Error() string {
	var b strings.Builder
	b.WriteString("reading ")
	b.WriteString(e.File)
	b.WriteString(": ")
	b.WriteString(e.location())
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns Err.
func (e *DocumentError) Unwrap() error {
	return e.Err
}

func (e *DocumentError) location() string {
	return location{document: e.Document, item: e.Item}.String()
}

// location is where an object is in a stream.
type location struct {
	file     string
	document int
	item     string
}

// String returns "document N: [ITEM: ]", the prefix of messages.
func (l location) String() string {
	s := "document " + strconv.Itoa(l.document) + ": "
	if l.item != "" {
		s += l.item + ": "
	}
	return s
}

// listItem returns the location of item i of the List at l.
func (l location) listItem(i int) location {
	item := "items[" + strconv.Itoa(i) + "]"
	if l.item != "" {
		item = l.item + "." + item
	}
	return location{file: l.file, document: l.document, item: item}
}

// fail returns err as a *DocumentError at l.
func (l location) fail(err error) error {
	return &DocumentError{File: l.file, Document: l.document, Item: l.item, Err: err}
}
