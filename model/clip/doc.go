// Package clip holds the CLIP text side of SDXL: the byte-level BPE tokenizer that reads a
// diffusers `tokenizer/` or `tokenizer_2/` folder, the ftfy-compatible text fixing the
// reference tokenizer applies before BPE, and the CLIP text transformers.
//
// The tokenizer reproduces Hugging Face's slow CLIPTokenizer (transformers 4.30.2) with
// ftfy 6.1.1 installed, id for id: text is fixed (FixText), whitespace-collapsed and
// lowercased, split by CLIP's pre-tokenisation pattern, byte-mapped and merged by BPE rank.
// Tokens added at run time (AddTokens, e.g. "<new1>") are matched as whole strings before
// any of that and get ids from the vocabulary size on.
package clip
