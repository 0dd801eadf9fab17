package anaplan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Decoding list answers in one pass, bounded by what the caller asked for.
//
// A list answer is decoded straight from the response body with a
// json.Decoder walking its tokens: the array of items is decoded item by
// item, and counted while it is decoded, so that a page holding more items
// than the page size asked for is refused at the first item too many,
// before the rest is read. Nothing is buffered whole: the decoder holds one
// item at a time, and the items of a page are held in a slice reused from
// page to page.

// MaxDownloadChunks is the most chunks Download accepts in a file's chunk
// list: at Anaplan's smallest chunk (1 MB) it is a file of 100 GB. A longer
// list is refused as an error naming the endpoint, before any chunk is
// fetched.
const MaxDownloadChunks = 100_000

// errTooLarge is the error of a body longer than maxListBody.
var errTooLarge = fmt.Errorf("the answer is larger than %d MiB", maxListBody>>20)

// limitedBody reads at most n bytes of r, then fails with errTooLarge (not
// io.EOF, so that a decoder never mistakes a cut answer for a whole one).
type limitedBody struct {
	r io.Reader
	n int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// getDecoded sends a GET and hands its JSON answer to decode, as a decoder
// over the body (at most maxListBody bytes). An error of decode is wrapped
// with the method and the URL.
func (c *Client) getDecoded(ctx context.Context, u string, inModel bool, decode func(*json.Decoder) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return err
	}
	resp, err := c.send(req, inModel)
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	dec := json.NewDecoder(&limitedBody{r: resp.Body, n: maxListBody})
	err = decode(dec)
	if err == nil {
		// Only white space may follow the answer, as with json.Unmarshal.
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("the answer has data after its JSON object")
			if terr != nil && !errors.As(terr, new(*json.SyntaxError)) {
				err = terr
			}
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errTooLarge):
		return errorf("anaplan: GET %s: %w", redactURL(u), errTooLarge)
	case ctx.Err() != nil:
		return errorf("anaplan: GET %s: reading the answer: %w", redactURL(u), context.Cause(ctx))
	}
	return errorf("anaplan: GET %s: %w", redactURL(u), err)
}

// decodeObject reads one JSON object from dec, calling field for each of
// its keys with the decoder placed before the key's value; field must
// consume the value (skipValue does, for keys of no interest). A JSON null
// is an object without keys.
func decodeObject(dec *json.Decoder, field func(key string) error) error {
	t, err := dec.Token()
	if err != nil {
		return notJSON(err)
	}
	if t == nil {
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("the answer is not the JSON object expected")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return notJSON(err)
		}
		key, _ := t.(string) // inside an object, the decoder yields only string keys
		if err := field(key); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return notJSON(err)
	}
	return nil
}

// decodeItems decodes the JSON array at dec into items (reusing its
// storage), one item at a time, and fails at the first item beyond limit,
// before decoding it. A JSON null is an empty array. what names the items
// in errors, and why says where limit comes from.
func decodeItems[T any](dec *json.Decoder, items []T, limit int, what, why string) ([]T, error) {
	items = items[:0]
	t, err := dec.Token()
	if err != nil {
		return items, notJSON(err)
	}
	if t == nil {
		return items, nil
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return items, fmt.Errorf("the %s are not the JSON array expected", what)
	}
	var zero T
	for dec.More() {
		if len(items) >= limit {
			return items[:0], fmt.Errorf("the answer holds more than %d %s (%s): refused unread", limit, what, why)
		}
		items = append(items, zero)
		if err := dec.Decode(&items[len(items)-1]); err != nil {
			return items[:0], fmt.Errorf("the %s are not the JSON expected: %w", what, notJSON(err))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return items[:0], notJSON(err)
	}
	return items, nil
}

// skipValue consumes the next JSON value of dec without decoding it. The
// decoder holds the value's bytes while it checks them (at most the
// maxListBody of the whole answer); nothing is allocated for what it holds.
func skipValue(dec *json.Decoder) error {
	return notJSON(dec.Decode(&skipped{}))
}

// skipped is a JSON value decoded into nothing.
type skipped struct{}

// UnmarshalJSON implements json.Unmarshaler; the decoder has already
// checked that data is JSON.
func (*skipped) UnmarshalJSON([]byte) error { return nil }

// notJSON makes the end of a body in the middle of a value a JSON error.
func notJSON(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
