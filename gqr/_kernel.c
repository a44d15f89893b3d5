/* gqr's compiled hot loops, each the twin of a Python reference that stays the specification:
 *
 * keys()   casefolded text -> hashed n-gram keys (gqr.features.hashing_fast; see below)
 * finder() + find()   where the first of a set of words occurs in a text (gqr.rules' gates)
 * fasttext_row()   one line's fastText input rows and averaging weights (gqr.features.fasttext)
 *
 * Built at install when a C compiler is there (setup.py, optional); gqr.kernel loads it, and
 * without it gqr computes the same results in Python and numpy.
 *
 * keys: one pass per text does what gqr.features.hashing does (its Python reference is the
 * specification): normalise (every decimal digit becomes "0"; the tokens of the regex
 * \w+|[^\w\s] joined by single spaces, with a space at both ends; cut at MAX_LEN code points),
 * then hash every n-gram of the normalised string s = cp[0..n) with the polynomial hash
 *     prefix[i] = sum_{j<i} cp[j] * B^j (mod p),  p = 2^31 - 1, B = 1000003,
 *     hash[a, b) = ((prefix[b] - prefix[a]) * B^-a * 31 + kind) mod p,
 *     id = hash mod n_features,
 * for every character k-gram (kind k) and every word k-gram (kind 100 + k; words are the runs
 * between the spaces of s). Each key is row * stride + offset + id, in no particular order
 * (callers sort and count). \w, \s and \d are the re module's: Py_UNICODE_ISALNUM or "_",
 * Py_UNICODE_ISSPACE, Py_UNICODE_ISDECIMAL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRIME 2147483647ULL
#define BASE 1000003ULL
#define WORD_KIND 100
/* the longest normalised string gqr hashes: 4 * MAX_CHARS + 8 (gqr.features.hashing._MAX_LEN) */
#define MAX_LEN 16008
/* gqr.kernel.VERSION: bumped with every change of what this file computes */
#define VERSION 5

static uint64_t powers[MAX_LEN + 1];   /* B^j mod p */
static uint64_t inverse31[MAX_LEN + 1]; /* B^-j * 31 mod p */

typedef struct {
    int64_t n_features;
    int char_lo, char_hi, word_lo, word_hi;
} Config;

static uint64_t pow_mod(uint64_t base, uint64_t exp) {
    uint64_t acc = 1;
    base %= PRIME;
    while (exp) {
        if (exp & 1) acc = acc * base % PRIME;
        base = base * base % PRIME;
        exp >>= 1;
    }
    return acc;
}

static void fill_tables(void) {
    uint64_t inv = pow_mod(BASE, PRIME - 2), p = 1, q = 31;
    for (int j = 0; j <= MAX_LEN; j++) {
        powers[j] = p;
        inverse31[j] = q;
        p = p * BASE % PRIME;
        q = q * inv % PRIME;
    }
}

static inline int64_t key_of(const uint64_t *prefix, Py_ssize_t a, Py_ssize_t b, int kind, const Config *c,
                             int64_t base) {
    uint64_t h = (prefix[b] + PRIME - prefix[a]) % PRIME;
    h = (h * inverse31[a] + (uint64_t)kind) % PRIME;
    uint64_t nf = (uint64_t)c->n_features;
    return base + (int64_t)((nf & (nf - 1)) == 0 ? (h & (nf - 1)) : (h % nf));
}

static Py_ssize_t count_char(Py_ssize_t n, const Config *c) {
    Py_ssize_t total = 0;
    if (c->char_hi)
        for (int k = c->char_lo > 1 ? c->char_lo : 1; k <= c->char_hi; k++)
            if (n >= k) total += n - k + 1;
    return total;
}

static Py_ssize_t count_word(Py_ssize_t n, Py_ssize_t spaces, const Config *c) {
    Py_ssize_t total = 0;
    if (c->word_hi && n > 2) /* s == "  " holds no word */
        for (int k = c->word_lo > 1 ? c->word_lo : 1; k <= c->word_hi; k++)
            if (spaces - 1 >= k) total += spaces - k;
    return total;
}

static int is_word(Py_UCS4 ch) { return Py_UNICODE_ISALNUM(ch) || ch == '_'; }

/* Normalise the casefolded text into s (room for MAX_LEN code points), noting the positions
 * of its spaces; *n and *m get its length and its number of spaces. Raises
 * UnicodeEncodeError (as the numpy path's UTF-32 encoding does) for a lone surrogate that
 * s keeps: bytes that were not UTF-8 are not text. */
static int normalise(PyObject *text, Py_UCS4 *s, Py_ssize_t *spaces, Py_ssize_t *n, Py_ssize_t *m) {
    Py_ssize_t size = PyUnicode_GET_LENGTH(text), len = 0, nsp = 0, tokens = 0;
    int kind = PyUnicode_KIND(text), in_word = 0;
    const void *data = PyUnicode_DATA(text);
#define EMIT(ch)                                          \
    do {                                                  \
        if (len == MAX_LEN) goto done;                    \
        if ((ch) == ' ') spaces[nsp++] = len;             \
        s[len++] = (ch);                                  \
    } while (0)
    EMIT(' ');
    for (Py_ssize_t j = 0; j < size; j++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, j);
        if (Py_UNICODE_ISDECIMAL(ch)) ch = '0';
        if (is_word(ch)) {
            if (!in_word && tokens++) EMIT(' ');
            in_word = 1;
        } else {
            in_word = 0;
            if (Py_UNICODE_ISSPACE(ch)) continue;
            if (tokens++) EMIT(' ');
            if (ch >= 0xD800 && ch <= 0xDFFF && len < MAX_LEN) {
                PyObject *exc = PyObject_CallFunction(PyExc_UnicodeEncodeError, "sOnns", "utf-32-le", text, j,
                                                      j + 1, "surrogates not allowed");
                if (exc != NULL) {
                    PyErr_SetObject(PyExc_UnicodeEncodeError, exc);
                    Py_DECREF(exc);
                }
                return -1;
            }
        }
        EMIT(ch);
    }
    EMIT(' ');
done:
#undef EMIT
    *n = len;
    *m = nsp;
    return 0;
}

/* Write the keys of the normalised string s into out (room checked by the caller); return how many. */
static Py_ssize_t row_keys(const Py_UCS4 *s, Py_ssize_t n, const Py_ssize_t *spaces, Py_ssize_t m, const Config *c,
                           int64_t base, uint64_t *prefix, int64_t *out) {
    Py_ssize_t w = 0;
    prefix[0] = 0;
    for (Py_ssize_t j = 0; j < n; j++) prefix[j + 1] = (prefix[j] + (uint64_t)s[j] * powers[j]) % PRIME;
    if (c->char_hi)
        for (int k = c->char_lo > 1 ? c->char_lo : 1; k <= c->char_hi; k++)
            for (Py_ssize_t a = 0; a + k <= n; a++) out[w++] = key_of(prefix, a, a + k, k, c, base);
    if (c->word_hi && n > 2)
        for (int k = c->word_lo > 1 ? c->word_lo : 1; k <= c->word_hi; k++)
            for (Py_ssize_t t = 0; t + k < m; t++)
                out[w++] = key_of(prefix, spaces[t] + 1, spaces[t + k], WORD_KIND + k, c, base);
    return w;
}

static int check_text(PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "expected str, got %.80s", Py_TYPE(text)->tp_name);
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return -1;
#endif
    return 0;
}

PyDoc_STRVAR(keys_doc,
             "keys(texts, n_features, char_lo, char_hi, word_lo, word_hi, stride, offset) -> bytearray\n\n"
             "int64 keys row * stride + offset + id of every n-gram of every casefolded text.");

static PyObject *keys(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *texts, *result = NULL;
    long long n_features, stride, offset;
    Config c;
    if (!PyArg_ParseTuple(args, "O!LiiiiLL", &PyList_Type, &texts, &n_features, &c.char_lo, &c.char_hi,
                          &c.word_lo, &c.word_hi, &stride, &offset))
        return NULL;
    if (n_features < 1) {
        PyErr_SetString(PyExc_ValueError, "n_features must be positive");
        return NULL;
    }
    c.n_features = (int64_t)n_features;
    Py_UCS4 *s = malloc(MAX_LEN * sizeof(Py_UCS4));
    Py_ssize_t *spaces = malloc(MAX_LEN * sizeof(Py_ssize_t));
    uint64_t *prefix = malloc((MAX_LEN + 1) * sizeof(uint64_t));
    int64_t *out = NULL; /* grows by doubling: one normalisation per text, one copy at the end */
    Py_ssize_t capacity = 0, written = 0, n, m;
    if (s == NULL || spaces == NULL || prefix == NULL) {
        PyErr_NoMemory();
        goto cleanup;
    }
    for (Py_ssize_t r = 0; r < PyList_GET_SIZE(texts); r++) {
        PyObject *text = PyList_GET_ITEM(texts, r);
        if (check_text(text) < 0 || normalise(text, s, spaces, &n, &m) < 0) goto cleanup;
        Py_ssize_t need = written + count_char(n, &c) + count_word(n, m, &c);
        if (need > capacity) {
            capacity = need > 2 * capacity ? need : 2 * capacity;
            int64_t *grown = realloc(out, (size_t)capacity * sizeof(int64_t));
            if (grown == NULL) {
                PyErr_NoMemory();
                goto cleanup;
            }
            out = grown;
        }
        written += row_keys(s, n, spaces, m, &c, (int64_t)r * stride + offset, prefix, out + written);
    }
    result = PyByteArray_FromStringAndSize((const char *)out, written * (Py_ssize_t)sizeof(int64_t));
cleanup:
    free(s);
    free(spaces);
    free(prefix);
    free(out);
    return result;
}

/* ---- finder: the first occurrence of any of a set of words ---------------------------- */

typedef struct {
    Py_ssize_t count;
    Py_UCS4 **words;        /* code points of each word */
    Py_ssize_t *lengths;
    Py_ssize_t first[129];  /* words whose first code point is c < 128: first[c] .. first[c + 1] - 1;
                               words starting beyond ASCII: first[128] .. count - 1 */
} Finder;

static const char *FINDER = "gqr._kernel.Finder";

static void finder_release(Finder *f) {
    for (Py_ssize_t i = 0; i < f->count; i++) PyMem_Free(f->words[i]);
    PyMem_Free(f->words);
    PyMem_Free(f->lengths);
    PyMem_Free(f);
}

static void finder_free(PyObject *capsule) {
    Finder *f = PyCapsule_GetPointer(capsule, FINDER);
    if (f != NULL) finder_release(f);
}

PyDoc_STRVAR(finder_doc, "finder(words) -> capsule for find(): a list of non-empty str.");

static PyObject *finder(PyObject *self, PyObject *words) {
    (void)self;
    if (!PyList_Check(words)) {
        PyErr_SetString(PyExc_TypeError, "finder() takes a list of str");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(words);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *w = PyList_GET_ITEM(words, i);
        if (check_text(w) < 0) return NULL;
        if (PyUnicode_GET_LENGTH(w) == 0) {
            PyErr_SetString(PyExc_ValueError, "finder() words must not be empty");
            return NULL;
        }
    }
    Finder *f = PyMem_Calloc(1, sizeof(Finder));
    if (f == NULL) return PyErr_NoMemory();
    f->words = PyMem_Calloc((size_t)count + 1, sizeof(Py_UCS4 *));
    f->lengths = PyMem_Calloc((size_t)count + 1, sizeof(Py_ssize_t));
    if (f->words == NULL || f->lengths == NULL) {
        finder_release(f);
        return PyErr_NoMemory();
    }
    /* bucket the words by first code point: 0..127 in order, then all the others */
    for (int c = 0; c <= 128; c++) {
        f->first[c] = f->count;
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *w = PyList_GET_ITEM(words, i);
            Py_UCS4 head = PyUnicode_READ_CHAR(w, 0);
            if (c < 128 ? head != (Py_UCS4)c : head < 128) continue;
            Py_UCS4 *copy = PyUnicode_AsUCS4Copy(w);
            if (copy == NULL) {
                finder_release(f);
                return NULL;
            }
            f->words[f->count] = copy;
            f->lengths[f->count++] = PyUnicode_GET_LENGTH(w);
        }
    }
    PyObject *capsule = PyCapsule_New(f, FINDER, finder_free);
    if (capsule == NULL) finder_release(f);
    return capsule;
}

static int word_at(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, const Py_UCS4 *word, Py_ssize_t len) {
    if (n - i < len) return 0;
    for (Py_ssize_t j = 1; j < len; j++)
        if (PyUnicode_READ(kind, data, i + j) != word[j]) return 0;
    return 1;
}

PyDoc_STRVAR(find_doc,
             "find(finder, text, start) -> int\n\n"
             "The least i >= start at which one of the finder's words occurs in text, or -1.");

static PyObject *find(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule, *text;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "OUn", &capsule, &text, &start)) return NULL;
    Finder *f = PyCapsule_GetPointer(capsule, FINDER);
    if (f == NULL || check_text(text) < 0) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = start < 0 ? 0 : start; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        Py_ssize_t lo = ch < 128 ? f->first[ch] : f->first[128];
        Py_ssize_t hi = ch < 128 ? f->first[ch + 1] : f->count;
        for (Py_ssize_t w = lo; w < hi; w++)
            if (f->words[w][0] == ch && word_at(kind, data, n, i, f->words[w], f->lengths[w]))
                return PyLong_FromSsize_t(i);
    }
    return PyLong_FromLong(-1);
}

/* ---- fasttext_row: one line's fastText input rows and weights ------------------------- */

static int int64_buffer(PyObject *obj, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != 8 || view->format == NULL || (strcmp(view->format, "l") && strcmp(view->format, "q"))) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous int64 array", what);
        return -1;
    }
    return 0;
}

static void sort_int64(int64_t *a, Py_ssize_t n) { /* Shell sort (Ciura's gaps): rows hold a few hundred ids */
    static const Py_ssize_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++)
        for (Py_ssize_t i = gaps[g]; i < n; i++) {
            int64_t v = a[i];
            Py_ssize_t j = i;
            for (; j >= gaps[g] && a[j - gaps[g]] > v; j -= gaps[g]) a[j] = a[j - gaps[g]];
            a[j] = v;
        }
}

PyDoc_STRVAR(fasttext_row_doc,
             "fasttext_row(parts, hashes, raw_ids, row_map, n_words, bucket, word_ngrams) -> (bytearray, bytearray)\n\n"
             "The sorted unique input rows (int64) of one line and their float32 averaging weights.\n"
             "parts: per token, the bytes of the int64 rows it keeps; hashes: its word hash (uint64);\n"
             "raw_ids: how many input ids the tokens have, dropped rows included; row_map: int64\n"
             "raw id -> kept row or -1. Word n-grams of 2..word_ngrams tokens are added as fastText does.");

static PyObject *fasttext_row(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *parts, *hashes, *row_map_obj;
    Py_ssize_t raw_ids, n_words, bucket;
    int word_ngrams;
    if (!PyArg_ParseTuple(args, "O!O!nOnni", &PyList_Type, &parts, &PyList_Type, &hashes, &raw_ids, &row_map_obj,
                          &n_words, &bucket, &word_ngrams))
        return NULL;
    Py_ssize_t tokens = PyList_GET_SIZE(hashes), total = 0;
    if (PyList_GET_SIZE(parts) != tokens || raw_ids < 0 || n_words < 0 || bucket < 0 || word_ngrams < 1) {
        PyErr_SetString(PyExc_ValueError, "fasttext_row: inconsistent arguments");
        return NULL;
    }
    for (Py_ssize_t t = 0; t < tokens; t++) {
        PyObject *part = PyList_GET_ITEM(parts, t);
        if (!PyBytes_Check(part) || PyBytes_GET_SIZE(part) % 8) {
            PyErr_SetString(PyExc_TypeError, "fasttext_row: each part must be the bytes of an int64 array");
            return NULL;
        }
        total += PyBytes_GET_SIZE(part) / 8;
    }
    Py_ssize_t grams = 0; /* word n-grams: fastText averages over all of them, dropped rows included */
    if (bucket > 0)
        for (int k = 2; k <= word_ngrams; k++) grams += tokens >= k ? tokens - k + 1 : 0;
    Py_buffer row_map;
    if (int64_buffer(row_map_obj, &row_map, "row_map") < 0) return NULL;
    uint64_t *h = PyMem_Malloc(((size_t)tokens + 1) * sizeof(uint64_t));
    int64_t *rows = PyMem_Malloc(((size_t)(total + grams) + 1) * sizeof(int64_t));
    int failed = h == NULL || rows == NULL;
    if (failed) PyErr_NoMemory();
    Py_ssize_t n = 0;
    for (Py_ssize_t t = 0; t < tokens && !failed; t++) {
        PyObject *part = PyList_GET_ITEM(parts, t);
        memcpy(rows + n, PyBytes_AS_STRING(part), (size_t)PyBytes_GET_SIZE(part));
        n += PyBytes_GET_SIZE(part) / 8;
        h[t] = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(hashes, t));
        failed = h[t] == (uint64_t)-1 && PyErr_Occurred();
    }
    Py_ssize_t map_size = row_map.len / 8;
    for (Py_ssize_t i = 0; bucket > 0 && i + 1 < tokens && !failed; i++) {
        uint64_t acc = h[i];
        for (Py_ssize_t j = i + 1; j < tokens && j - i < word_ngrams; j++) {
            acc = acc * 116049371ULL + h[j]; /* wraps modulo 2^64, as in fastText's C++ */
            Py_ssize_t raw = (Py_ssize_t)(acc % (uint64_t)bucket) + n_words;
            if (raw >= map_size) {
                PyErr_SetString(PyExc_ValueError, "fasttext_row: row_map is shorter than n_words + bucket");
                failed = 1;
                break;
            }
            int64_t kept = ((const int64_t *)row_map.buf)[raw];
            if (kept >= 0) rows[n++] = kept;
        }
    }
    PyBuffer_Release(&row_map);
    PyMem_Free(h);
    if (failed) {
        PyMem_Free(rows);
        return NULL;
    }
    sort_int64(rows, n);
    Py_ssize_t unique = 0;
    for (Py_ssize_t i = 0; i < n; i++) unique += i == 0 || rows[i] != rows[i - 1];
    PyObject *ids = PyByteArray_FromStringAndSize(NULL, unique * 8);
    PyObject *weights = PyByteArray_FromStringAndSize(NULL, unique * 4);
    if (ids == NULL || weights == NULL) {
        Py_XDECREF(ids);
        Py_XDECREF(weights);
        PyMem_Free(rows);
        return NULL;
    }
    int64_t *out_ids = (int64_t *)PyByteArray_AS_STRING(ids);
    float *out_weights = (float *)PyByteArray_AS_STRING(weights);
    Py_ssize_t size = raw_ids + grams;
    float inverse = (float)(1.0 / (double)(size > 1 ? size : 1)); /* numpy: float32(1 / max(size, 1)) */
    Py_ssize_t u = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i == 0 || rows[i] != rows[i - 1]) {
            out_ids[++u] = rows[i];
            out_weights[u] = 0.0f;
        }
        out_weights[u] += 1.0f; /* counts stay exact integers in float32 */
    }
    for (Py_ssize_t i = 0; i < unique; i++) out_weights[i] = out_weights[i] * inverse;
    PyMem_Free(rows);
    return Py_BuildValue("(NN)", ids, weights);
}

static PyMethodDef methods[] = {
    {"keys", keys, METH_VARARGS, keys_doc},
    {"finder", finder, METH_O, finder_doc},
    {"find", find, METH_VARARGS, find_doc},
    {"fasttext_row", fasttext_row, METH_VARARGS, fasttext_row_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernel", "gqr's compiled hot loops (see gqr.kernel).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    fill_tables();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && (PyModule_AddIntConstant(m, "MAX_LEN", MAX_LEN) < 0 ||
                      PyModule_AddIntConstant(m, "VERSION", VERSION) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
