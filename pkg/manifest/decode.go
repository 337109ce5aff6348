package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// maxListDepth bounds how deeply Lists may nest, so that hostile input
// cannot make decoding recurse without end.
const maxListDepth = 32

// typeMeta is an object's apiVersion and kind.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

var (
	serviceType           = typeMeta{APIVersion: "v1", Kind: "Service"}
	endpointSliceType     = typeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}
	nodeType              = typeMeta{APIVersion: "v1", Kind: "Node"}
	listType              = typeMeta{APIVersion: "v1", Kind: "List"}
	serviceListType       = typeMeta{APIVersion: "v1", Kind: "ServiceList"}
	endpointSliceListType = typeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSliceList"}
	nodeListType          = typeMeta{APIVersion: "v1", Kind: "NodeList"}
	serviceCIDRType       = typeMeta{APIVersion: "networking.k8s.io/v1", Kind: "ServiceCIDR"}
	serviceCIDRListType   = typeMeta{APIVersion: "networking.k8s.io/v1", Kind: "ServiceCIDRList"}
)

// listItemTypes maps each List type read to the type of its items. Typed
// lists, as the API server returns them, omit apiVersion and kind from
// their items; the generic v1 List that kubectl prints does not.
var listItemTypes = map[typeMeta]typeMeta{
	listType:              {},
	serviceListType:       serviceType,
	endpointSliceListType: endpointSliceType,
	nodeListType:          nodeType,
	serviceCIDRListType:   serviceCIDRType,
}

// decoder decodes manifest streams into one set of Objects.
type decoder struct {
	objs  *Objects
	warns []Warning
}

func newDecoder() *decoder {
	return &decoder{objs: &Objects{}}
}

var utf8BOM = []byte("\xef\xbb\xbf")

// decodeStream decodes every document of one file.
func (d *decoder) decodeStream(file string, data []byte) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if utilyaml.IsJSONBuffer(data) {
		d.decodeJSONStream(file, data)
		return
	}
	d.decodeYAMLStream(file, data)
}

// decodeYAMLStream decodes a stream of YAML documents separated by "---".
// A document that cannot be parsed is skipped with a Warning; the
// separators still delimit the ones after it.
func (d *decoder) decodeYAMLStream(file string, data []byte) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		loc := location{file: file, document: doc}
		raw, err := reader.Read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				d.skip(loc, "", "", err)
			}
			return
		}
		obj, err := yaml.YAMLToJSON(raw)
		if err != nil {
			d.skip(loc, "", "", err)
			continue
		}
		d.decodeObject(loc, obj, typeMeta{}, 0)
	}
}

// decodeJSONStream decodes a stream of concatenated JSON values. After a
// syntax error nothing tells where the next value starts, so the rest of
// the stream is skipped with one Warning.
func (d *decoder) decodeJSONStream(file string, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for doc := 1; ; doc++ {
		loc := location{file: file, document: doc}
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			d.warn(loc, "", "", "skipped with the rest of the stream: "+withJSONLine(data, err).Error())
			return
		}
		d.decodeObject(loc, raw, typeMeta{}, 0)
	}
}

// withJSONLine adds the line of a JSON syntax error to it: encoding/json
// only gives the byte offset.
func withJSONLine(data []byte, err error) error {
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) || syntax.Offset < 0 || syntax.Offset > int64(len(data)) {
		return err
	}
	line := 1 + bytes.Count(data[:syntax.Offset], []byte("\n"))
	return fmt.Errorf("json: line %d: %w", line, err)
}

// decodeObject decodes one object, given as JSON, at loc. An object with
// neither apiVersion nor kind gets itemType, the item type of the List it
// is in. An object that cannot be decoded is skipped with a Warning.
func (d *decoder) decodeObject(loc location, data []byte, itemType typeMeta, depth int) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return // an empty document
	}
	if data[0] != '{' {
		d.skip(loc, "", "", fmt.Errorf("expected an object, found %s", jsonValueKind(data[0])))
		return
	}
	var tm typeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &tm); err != nil {
		d.skip(loc, "", objectName(data), fmt.Errorf("reading apiVersion and kind: %w", err))
		return
	}
	if tm == (typeMeta{}) {
		tm = itemType
	}
	switch {
	case tm.Kind == "":
		d.skip(loc, "", objectName(data), errors.New("object has no kind"))
	case tm.APIVersion == "":
		d.skip(loc, tm.Kind, objectName(data), errors.New("object has no apiVersion"))
	default:
		if items, ok := listItemTypes[tm]; ok {
			d.decodeList(loc, data, items, depth)
			return
		}
		d.decodeTyped(loc, data, tm)
	}
}

// decodeTyped decodes an object of one of the types used, and skips any
// other with a warning.
func (d *decoder) decodeTyped(loc location, data []byte, tm typeMeta) {
	switch tm {
	case serviceType:
		appendDecoded(d, loc, data, tm, &d.objs.Services)
	case endpointSliceType:
		appendDecoded(d, loc, data, tm, &d.objs.EndpointSlices)
	case nodeType:
		appendDecoded(d, loc, data, tm, &d.objs.Nodes)
	case serviceCIDRType:
		appendDecoded(d, loc, data, tm, &d.objs.ServiceCIDRs)
	default:
		d.warn(loc, tm.Kind, objectName(data), skipReason(tm))
	}
}

// appendDecoded decodes data as a T and appends it to list, with the
// apiVersion and kind it was read with, which a typed List's items lack.
func appendDecoded[T any, P interface {
	*T
	runtime.Object
}](d *decoder, loc location, data []byte, tm typeMeta, list *[]P) {
	obj, ok := decodeInto[T](d, loc, data, tm)
	if !ok {
		return
	}
	P(obj).GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind))
	*list = append(*list, obj)
}

// decodeInto decodes data into a new T. A type error skips the object,
// with a Warning naming the field; unknown and duplicate fields are only
// warned about, since kubectl output from a newer cluster may carry fields
// this build does not know.
func decodeInto[T any](d *decoder, loc location, data []byte, tm typeMeta) (*T, bool) {
	obj := new(T)
	strict, err := kjson.UnmarshalStrict(data, obj)
	if err != nil {
		d.skip(loc, tm.Kind, objectName(data), err)
		return nil, false
	}
	for _, e := range strict {
		d.warn(loc, tm.Kind, objectName(data), "ignored: "+e.Error())
	}
	return obj, true
}

// decodeList decodes the items of a List in order.
func (d *decoder) decodeList(loc location, data []byte, itemType typeMeta, depth int) {
	if depth >= maxListDepth {
		d.skip(loc, "", "", fmt.Errorf("lists nested more than %d deep", maxListDepth))
		return
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &list); err != nil {
		d.skip(loc, "", objectName(data), fmt.Errorf("reading items: %w", err))
		return
	}
	for i, item := range list.Items {
		d.decodeObject(loc.listItem(i), item, itemType, depth+1)
	}
}

// skip warns that the object at loc was skipped because of err.
func (d *decoder) skip(loc location, kind, object string, err error) {
	d.warn(loc, kind, object, "skipped: "+err.Error())
}

func (d *decoder) warn(loc location, kind, object, reason string) {
	d.warns = append(d.warns, Warning{
		File:     loc.file,
		Document: loc.document,
		Item:     loc.item,
		Kind:     kind,
		Object:   object,
		Reason:   reason,
	})
}

// skipReason says why an object of type tm is skipped.
func skipReason(tm typeMeta) string {
	switch {
	case tm.Kind == "Endpoints" && tm.APIVersion == "v1":
		return "skipped: kind Endpoints is not used; EndpointSlices are"
	case tm.Kind == serviceType.Kind || tm.Kind == nodeType.Kind || tm.Kind == listType.Kind:
		return fmt.Sprintf("skipped: apiVersion %s of kind %s is not used; only v1 is", tm.APIVersion, tm.Kind)
	case tm.Kind == endpointSliceType.Kind:
		return fmt.Sprintf("skipped: apiVersion %s of kind %s is not used; only %s is",
			tm.APIVersion, tm.Kind, endpointSliceType.APIVersion)
	}
	return fmt.Sprintf("skipped: kind %s is not used", tm.Kind)
}

// objectName returns "namespace/name" or "name" from the object's
// metadata, or "" when it has none. It is best effort: the name only
// labels warnings.
func objectName(data []byte) string {
	var obj struct {
		Metadata struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"metadata"`
	}
	_ = kjson.UnmarshalCaseSensitivePreserveInts(data, &obj)
	if obj.Metadata.Namespace == "" {
		return obj.Metadata.Name
	}
	return obj.Metadata.Namespace + "/" + obj.Metadata.Name
}

func jsonValueKind(first byte) string {
	switch first {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
