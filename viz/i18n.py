"""Every label and explanation in English and Chinese. ``tr(key, lang)`` falls back to English."""

from __future__ import annotations

LANGUAGES = {"en": "English", "zh": "中文"}

STRINGS: dict[str, dict[str, str]] = {
    "title": {"en": "BERT layer explorer", "zh": "BERT 逐层探索器"},
    "subtitle": {
        "en": "Type a sentence and see what every encoder layer does with it.",
        "zh": "输入一句话，看看编码器的每一层如何处理它。",
    },
    "language": {"en": "Language", "zh": "语言"},
    "example": {"en": "Examples", "zh": "示例句子"},
    "example_none": {"en": "(pick an example)", "zh": "（选择一个示例）"},
    "sentence": {"en": "Sentence", "zh": "句子"},
    "pair": {"en": "Second sentence (optional, pair mode)", "zh": "第二个句子（可选，句对模式）"},
    "model": {
        "en": "Model: bundled default, Hugging Face id or local folder",
        "zh": "模型：内置默认模型、Hugging Face 模型名或本地文件夹",
    },
    "view": {"en": "View", "zh": "视图"},
    "view_attention": {"en": "Attention", "zh": "注意力"},
    "view_layers": {"en": "Compare layers", "zh": "层间比较"},
    "view_embeddings": {"en": "Token embeddings in 2-D", "zh": "词元向量二维投影"},
    "view_heads": {"en": "Heads", "zh": "注意力头"},
    "view_export": {"en": "Export & share", "zh": "导出与分享"},
    "loading_model": {
        "en": "Loading the model (once per server)...",
        "zh": "正在加载模型（每个服务器只加载一次）……",
    },
    "running": {"en": "Running the encoder...", "zh": "正在运行编码器……"},
    "facts": {
        "en": "{name} ({type}): {L} layers × {H} heads, hidden size {D}; {T} tokens",
        "zh": "{name}（{type}）：{L} 层 × {H} 个头，隐藏维度 {D}；{T} 个词元",
    },
    "truncated": {
        "en": "The input is longer than this model's maximum of {max} tokens: {n} tokens at the "
        "end were dropped. Shorten the text to see all of it.",
        "zh": "输入超过了该模型的最大长度 {max} 个词元：末尾 {n} 个词元被丢弃。缩短文本即可看到全部内容。",
    },
    "layer": {"en": "Layer", "zh": "层"},
    "head": {"en": "Head", "zh": "头"},
    "hide_special": {"en": "Hide [CLS]/[SEP]", "zh": "隐藏 [CLS]/[SEP]"},
    "average_heads": {"en": "Average over heads", "zh": "对所有头取平均"},
    "merge_subwords": {"en": "Merge subwords into words", "zh": "把子词合并为词"},
    "attention_title": {
        "en": "Layer {layer}, {head}: who attends to whom",
        "zh": "第 {layer} 层，{head}：谁关注谁",
    },
    "all_heads": {"en": "mean of all heads", "zh": "所有头的平均"},
    "head_n": {"en": "head {n}", "zh": "第 {n} 个头"},
    "attention_help": {
        "en": "Each row is a token asking (query); each column a token being looked at (key). "
        "A row sums to 1: it is how that token spreads its attention. Hover for the exact "
        "weight.",
        "zh": "每一行是发出关注的词元（query），每一列是被关注的词元（key）。每行之和为 1，表示该词元如何分配注意力。"
        "悬停可查看精确权重。",
    },
    "model_view": {"en": "Model view: every layer and head", "zh": "模型视图：所有层和头"},
    "model_view_help": {
        "en": "Rows are layers, columns heads. Click a thumbnail to open it above.",
        "zh": "行是层，列是头。点击缩略图即可在上方打开它。",
    },
    "head_view": {
        "en": "Head view: lines from each token to the tokens it attends to",
        "zh": "头视图：从每个词元连向它所关注词元的连线",
    },
    "head_view_long": {
        "en": "The head view draws lines for up to {n} tokens; this input has {t}. Use the "
        "heatmap above.",
        "zh": "头视图最多绘制 {n} 个词元的连线；当前输入有 {t} 个。请使用上方的热力图。",
    },
    "compare_two": {"en": "Two layers side by side", "zh": "两层并排比较"},
    "left_layer": {"en": "Left layer", "zh": "左侧层"},
    "right_layer": {"en": "Right layer", "zh": "右侧层"},
    "cka_title": {"en": "Linear CKA between layers", "zh": "层与层之间的线性 CKA"},
    "cos_title": {
        "en": "Mean token cosine between layers",
        "zh": "层与层之间词元余弦相似度的平均值",
    },
    "similarity_help": {
        "en": "Both compare every pair of layers (emb = embedding output). CKA compares the "
        "geometry of all tokens at once; the cosine compares each token with itself.",
        "zh": "两者都比较每一对层（emb 表示嵌入层输出）。CKA 比较所有词元整体的几何结构；余弦比较每个词元与它自己。",
    },
    "change_title": {
        "en": "How much each token changes in each layer (1 − cosine)",
        "zh": "每个词元在每一层的变化量（1 − 余弦）",
    },
    "norms_title": {"en": "Hidden-state norms by layer", "zh": "各层隐藏状态的范数"},
    "contrib_title": {
        "en": "What each block adds to the residual stream",
        "zh": "每个模块向残差流添加了多少",
    },
    "contrib_attn": {"en": "attention", "zh": "注意力"},
    "contrib_ffn": {"en": "feed-forward", "zh": "前馈网络"},
    "contrib_help": {
        "en": "Mean over tokens of ‖block output‖ / ‖layer input‖: how big a change each block "
        "writes into the token vectors.",
        "zh": "对所有词元取平均的 ‖模块输出‖ / ‖层输入‖：每个模块对词元向量写入的改变有多大。",
    },
    "method": {"en": "Method", "zh": "方法"},
    "which_layers": {"en": "Layers", "zh": "层"},
    "one_layer": {"en": "One layer", "zh": "单层"},
    "all_layers": {"en": "All layers, fitted jointly (paths)", "zh": "所有层联合拟合（轨迹）"},
    "color_by": {"en": "Colour by", "zh": "着色方式"},
    "color_layer": {"en": "layer", "zh": "层"},
    "color_token": {"en": "token", "zh": "词元"},
    "projection_title": {"en": "Token vectors in 2-D", "zh": "词元向量的二维投影"},
    "projection_help": {
        "en": "Each point is a token's vector. With all layers, a line follows each token from "
        "the embedding layer to the last layer; one projection is fitted on all of them so "
        "positions are comparable.",
        "zh": "每个点是一个词元的向量。选择所有层时，每条线追踪一个词元从嵌入层到最后一层的轨迹；所有点共用一个投影，位置可以相互比较。",
    },
    "projecting": {"en": "Projecting...", "zh": "正在投影……"},
    "heads_table": {
        "en": "Every head, sortable (click a row to open that head)",
        "zh": "所有注意力头（可排序，点击一行即可打开该头）",
    },
    "heads_help": {
        "en": "entropy: how spread out a head's attention is (bits); distance: mean |query − key| "
        "in tokens; to_*: share of attention going to [CLS], [SEP], punctuation, the token "
        "itself, the previous and the next token.",
        "zh": "entropy：注意力分散程度（比特）；distance：query 与 key 的平均距离（词元数）；to_*：分配给 [CLS]、[SEP]、"
        "标点、自身、前一个词元、后一个词元的注意力比例。",
    },
    "heads_similarity": {
        "en": "How similar the heads are (Jensen-Shannon distance, clustered)",
        "zh": "注意力头之间的相似度（Jensen-Shannon 距离，已聚类）",
    },
    "open_head": {"en": "Open in the attention view", "zh": "在注意力视图中打开"},
    "download_trace": {"en": "Download the trace (.npz)", "zh": "下载完整追踪数据（.npz）"},
    "download_layer": {
        "en": "Download layer {layer} token embeddings (.csv)",
        "zh": "下载第 {layer} 层的词元向量（.csv）",
    },
    "download_heads": {"en": "Download the head table (.csv)", "zh": "下载注意力头统计表（.csv）"},
    "export_layer": {"en": "Layer to export (0 = embeddings)", "zh": "要导出的层（0 = 嵌入层）"},
    "share_help": {
        "en": "The page address holds the model, text, view, layer and head: copy it to share "
        "this exact page. Every chart's toolbar (camera icon) saves it as an image.",
        "zh": "页面地址包含模型、文本、视图、层和头：复制地址即可分享当前页面。每个图表工具栏中的相机图标可将其保存为图片。",
    },
    "image_format": {"en": "Chart download format", "zh": "图表下载格式"},
    "tokens": {"en": "Tokens", "zh": "词元"},
    "bad_model": {"en": "The model could not be loaded: {msg}", "zh": "无法加载模型：{msg}"},
}

EXAMPLES = [
    "The bank by the river flooded, so the bank on Main Street closed early.",
    "The animal didn't cross the street because it was too tired.",
    "我们在河边的银行门口见面，然后去银行存钱。",
    "She saw the saw that he saw on the table.",
    "Transformers process every token of a sentence in parallel.",
]


def tr(key: str, lang: str = "en", **values: object) -> str:
    entry = STRINGS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text
