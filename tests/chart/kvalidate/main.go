// kvalidate: strict, offline validation of rendered Kubernetes manifests and of a Helm
// values.schema.json, for Bollard's chart CI (no cluster, no network).
//
//	kvalidate manifests FILE...               every object decoded into its typed k8s.io/api struct;
//	                                          unknown fields, duplicate keys, wrong types, unknown kinds
//	                                          and a set of API-server rules fail ("-" reads stdin)
//	kvalidate schema [-expect-fail] SCHEMA DEFAULTS [VALUES...]
//	                                          compile SCHEMA as draft-07 and as 2020-12 and validate
//	                                          DEFAULTS merged with each VALUES file (as Helm merges) under both
//
// Exit status: 0 valid, 1 invalid, 2 usage or I/O error. Nothing is ever skipped: a kind this
// program does not know is an error, not a pass.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kvalidate manifests FILE...\n       kvalidate schema [-expect-fail] SCHEMA DEFAULTS [VALUES...]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "manifests":
		if len(os.Args) < 3 {
			usage()
		}
		os.Exit(runManifests(os.Args[2:]))
	case "schema":
		os.Exit(runSchema(os.Args[2:]))
	case "kinds":
		for _, k := range knownKinds() {
			fmt.Println(k)
		}
	default:
		usage()
	}
}

// ---- manifests -------------------------------------------------------------------------------

type document struct {
	source string // file:docindex
	json   []byte
	obj    any // typed object
	gvk    string
}

func readDocuments(path string) ([]document, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []document
	for i := 0; ; i++ {
		raw, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		if isEmptyDocument(raw) {
			continue
		}
		// YAMLToJSONStrict rejects duplicate keys, which plain YAML decoding silently merges.
		js, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", path, i+1, err)
		}
		docs = append(docs, document{source: fmt.Sprintf("%s#%d", path, i+1), json: js})
	}
	return docs, nil
}

func isEmptyDocument(raw []byte) bool {
	for _, line := range strings.Split(string(raw), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return false
		}
	}
	return true
}

func runManifests(paths []string) int {
	var docs []document
	for _, p := range paths {
		d, err := readDocuments(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kvalidate:", err)
			return 1
		}
		docs = append(docs, d...)
	}
	if len(docs) == 0 {
		fmt.Fprintln(os.Stderr, "kvalidate: no Kubernetes objects found (an empty render is an error)")
		return 1
	}
	var problems []string
	counts := map[string]int{}
	for i := range docs {
		d := &docs[i]
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		// A lenient first look only to pick the type; the strict decode below sees every field.
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(d.json, &tm); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", d.source, err))
			continue
		}
		if tm.APIVersion == "" || tm.Kind == "" {
			problems = append(problems, fmt.Sprintf("%s: apiVersion and kind are required", d.source))
			continue
		}
		d.gvk = tm.APIVersion + "/" + tm.Kind
		newObj, ok := registry[d.gvk]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %s: no schema for this kind (known: %s)", d.source, d.gvk, strings.Join(knownKinds(), ", ")))
			continue
		}
		obj := newObj()
		strictErrs, err := sigsjson.UnmarshalStrict(d.json, obj)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %v", d.source, d.gvk, err))
			continue
		}
		if len(strictErrs) > 0 {
			for _, e := range strictErrs {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", d.source, d.gvk, e))
			}
			continue
		}
		d.obj = obj
		counts[tm.Kind]++
		for _, p := range checkObject(obj) {
			problems = append(problems, fmt.Sprintf("%s: %s %s: %s", d.source, tm.Kind, objectName(obj), p))
		}
	}
	problems = append(problems, crossCheck(docs)...)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Println("INVALID", p)
		}
		fmt.Printf("kvalidate: %d object(s), %d problem(s)\n", len(docs), len(problems))
		return 1
	}
	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	fmt.Printf("kvalidate: %d object(s) valid (%s)\n", len(docs), strings.Join(kinds, " "))
	return 0
}

// ---- schema ----------------------------------------------------------------------------------

func loadYAMLAsJSONValue(path string) (any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if v == nil {
		v = map[string]any{}
	}
	return v, nil
}

// coalesce merges user values over chart defaults the way Helm does for maps: nested maps
// merge, anything else replaces, and null values (in either) do not survive the merge.
func coalesce(dst, src map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range dst {
		if v == nil {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			v = coalesce(m, nil)
		}
		out[k] = v
	}
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		sm, sok := v.(map[string]any)
		dm, dok := out[k].(map[string]any)
		if sok && dok {
			out[k] = coalesce(dm, sm)
		} else {
			out[k] = v
		}
	}
	return out
}

func compileSchema(doc any, draft *jsonschema.Draft) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(draft)
	if err := c.AddResource("values.schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("values.schema.json")
}

func runSchema(args []string) int {
	expectFail := false
	if len(args) > 0 && args[0] == "-expect-fail" {
		expectFail = true
		args = args[1:]
	}
	if len(args) < 2 {
		usage()
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvalidate:", err)
		return 2
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kvalidate: %s: %v\n", args[0], err)
		return 1
	}
	m, ok := doc.(map[string]any)
	if !ok {
		fmt.Fprintf(os.Stderr, "kvalidate: %s: not a JSON object\n", args[0])
		return 1
	}
	// Compile the same document under both dialects Helm has used, whatever $schema says.
	delete(m, "$schema")
	drafts := []struct {
		name  string
		draft *jsonschema.Draft
	}{{"draft-07", jsonschema.Draft7}, {"2020-12", jsonschema.Draft2020}}
	schemas := make([]*jsonschema.Schema, len(drafts))
	for i, d := range drafts {
		s, err := compileSchema(m, d.draft)
		if err != nil {
			fmt.Printf("INVALID %s: schema does not compile as %s: %v\n", args[0], d.name, err)
			return 1
		}
		schemas[i] = s
	}
	defaults, err := loadYAMLAsJSONValue(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvalidate:", err)
		return 1
	}
	dm, ok := defaults.(map[string]any)
	if !ok {
		fmt.Fprintf(os.Stderr, "kvalidate: %s: not a mapping\n", args[1])
		return 1
	}
	files := args[2:]
	if len(files) == 0 {
		files = []string{""}
	}
	status := 0
	for _, f := range files {
		merged := dm
		label := args[1]
		if f != "" {
			label = f
			v, err := loadYAMLAsJSONValue(f)
			if err != nil {
				if expectFail {
					fmt.Printf("refused %s: %v\n", f, err)
					continue
				}
				fmt.Println("INVALID", err)
				status = 1
				continue
			}
			um, ok := v.(map[string]any)
			if !ok {
				if expectFail {
					fmt.Printf("refused %s: not a mapping\n", f)
					continue
				}
				fmt.Printf("INVALID %s: not a mapping\n", f)
				status = 1
				continue
			}
			merged = coalesce(dm, um)
		}
		var verdicts []error
		for i, s := range schemas {
			err := s.Validate(any(merged))
			verdicts = append(verdicts, err)
			if err != nil && !expectFail {
				fmt.Printf("INVALID %s (%s): %v\n", label, drafts[i].name, err)
				status = 1
			}
		}
		if (verdicts[0] == nil) != (verdicts[1] == nil) {
			fmt.Printf("INVALID %s: draft-07 and 2020-12 disagree (draft-07: %v; 2020-12: %v)\n", label, verdicts[0], verdicts[1])
			status = 1
			continue
		}
		if expectFail {
			if verdicts[0] == nil {
				fmt.Printf("ACCEPTED %s: expected the schema to refuse it\n", label)
				status = 1
			} else {
				var ve *jsonschema.ValidationError
				msg := verdicts[0].Error()
				if errors.As(verdicts[0], &ve) {
					msg = strings.ReplaceAll(ve.Error(), "\n", " ")
				}
				fmt.Printf("refused %s: %s\n", label, msg)
			}
		} else if verdicts[0] == nil {
			fmt.Printf("ok %s (draft-07 and 2020-12)\n", label)
		}
	}
	return status
}
