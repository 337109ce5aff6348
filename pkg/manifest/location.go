package manifest

import "strconv"

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
