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
    "truncated_chars": {
        "en": "The text is very long: only its first {read:,} characters were read ({cut:,} more were not).",
        "zh": "文本过长：只读取了前 {read:,} 个字符（其余 {cut:,} 个字符未读取）。",
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
    "unknown_tokens": {
        "en": "{n} of the {total} tokens are not in this model's vocabulary: the model reads each "
        "of them as {unk}, so it cannot tell them apart (their labels read like 银→{unk}). For "
        "Chinese, use a model trained on it, such as bert-base-chinese or "
        "xlm-roberta-base.",
        "zh": "{total} 个词元中有 {n} 个不在该模型的词表里：模型把它们都读作 {unk}，无法区分（标签显示为“银→{unk}”）。"
        "处理中文请使用以中文训练的模型，例如 bert-base-chinese 或 xlm-roberta-base。",
    },
    "empty_text": {
        "en": "The text is empty: type a sentence.",
        "zh": "文本为空：请输入一句话。",
    },
    "hidden_rows": {
        "en": "[CLS]/[SEP] are hidden, so rows sum to less than 1: the missing part is what "
        "they received.",
        "zh": "[CLS]/[SEP] 已隐藏，所以每行之和小于 1：缺少的部分就是它们得到的注意力。",
    },
    "rollout_title": {
        "en": "Layer {layer}: how much of each input token has flowed into each position",
        "zh": "第 {layer} 层：每个输入词元流入各位置的比例",
    },
    "axis_input_token": {"en": "input token", "zh": "输入词元"},
    "axis_position": {"en": "position at this layer", "zh": "该层的位置"},
    "head_view_sides": {
        "en": "left: the token asking (query) · right: the token looked at (key) · darker "
        "line = larger value",
        "zh": "左：发出关注的词元（query）· 右：被关注的词元（key）· 线越深，数值越大",
    },
    "gelu_phi": {
        "en": "Φ is the cumulative distribution function of the standard normal distribution: "
        "GELU lets a value through in proportion to how likely a standard normal variable is "
        "to be smaller than it.",
        "zh": "Φ 是标准正态分布的累积分布函数：GELU 按“标准正态变量小于该值的概率”按比例放行这个值。",
    },
    "heads_similarity_help": {
        "en": "Each cell compares two heads' attention patterns on this sentence (Jensen-Shannon "
        "distance, averaged over query tokens: 0 = the same pattern, 1 = nothing in common). "
        "Rows and columns are ordered by hierarchical clustering, so heads that behave alike "
        "sit together: the light squares along the diagonal are families of similar heads.",
        "zh": "每个格子比较两个头在这句话上的注意力模式（Jensen-Shannon 距离，对所有查询词元取平均：0 = 模式相同，1 = 毫无共同之处）。"
        "行和列按层次聚类排序，行为相似的头排在一起：对角线上的浅色方块就是一组组相似的头。",
    },
    "tsne_few_points": {
        "en": "t-SNE on {n} points: with so few points its picture says little; distances "
        "between clusters mean nothing in t-SNE. PCA is the safer reading here.",
        "zh": "t-SNE 只有 {n} 个点：点这么少时，它的图说明不了多少；而且 t-SNE 中簇与簇之间的距离没有意义。这里用 PCA 更可靠。",
    },
    "contrast_pairs_help": {
        "en": "Each line is one pair of the sentences above (#1 vs #2: the first and the second "
        "line). Pairs that use the word in the same sense should stay higher than pairs that "
        "use it in different senses; the layer where the two kinds of lines part is where the "
        "model starts telling the meanings apart.",
        "zh": "每条线是上面句子中的一对（#1 vs #2：第一行与第二行）。词义相同的句对应当比词义不同的句对保持更高的相似度；两类线分开的那一层，就是模型开始区分词义的地方。",
    },
    "comma": {"en": ", ", "zh": "，"},
    "layer_n": {"en": "Layer {n}", "zh": "第 {n} 层"},
    "layer_emb": {"en": "Layer (0 = embeddings)", "zh": "层（0 = 嵌入层输出）"},
    "pooling": {"en": "Pooling", "zh": "池化方式"},
    "weight": {"en": "weight", "zh": "权重"},
    "score": {"en": "score", "zh": "分数"},
    "value": {"en": "value", "zh": "数值"},
    "unit": {"en": "unit", "zh": "神经元"},
    "dim": {"en": "dim", "zh": "维度"},
    "best": {"en": "best", "zh": "最佳"},
    # table columns (the CSV downloads keep the English names)
    "col_layer": {"en": "layer", "zh": "层"},
    "col_head": {"en": "head", "zh": "头"},
    "col_entropy": {"en": "entropy", "zh": "熵"},
    "col_distance": {"en": "distance", "zh": "平均距离"},
    "col_to_cls": {"en": "to_cls", "zh": "→[CLS]"},
    "col_to_sep": {"en": "to_sep", "zh": "→[SEP]"},
    "col_to_punct": {"en": "to_punct", "zh": "→标点"},
    "col_to_self": {"en": "to_self", "zh": "→自身"},
    "col_to_prev": {"en": "to_prev", "zh": "→前一个"},
    "col_to_next": {"en": "to_next", "zh": "→后一个"},
    "col_token": {"en": "token", "zh": "词元"},
    "col_shown as": {"en": "shown as", "zh": "显示为"},
    "col_id": {"en": "id", "zh": "编号"},
    "col_word": {"en": "word", "zh": "词"},
    "col_segment": {"en": "segment", "zh": "句段"},
    "col_special": {"en": "special", "zh": "特殊词元"},
    "col_pooling": {"en": "pooling", "zh": "池化方式"},
    "col_accuracy": {"en": "accuracy", "zh": "准确率"},
    "col_std": {"en": "std", "zh": "标准差"},
    "col_p": {"en": "p", "zh": "概率"},
    "col_rank": {"en": "rank", "zh": "排名"},
    "head_n": {"en": "head {n}", "zh": "第 {n} 个头"},
    "axis_to_key": {"en": "to (key)", "zh": "被关注的词元（key）"},
    "axis_from_query": {"en": "from (query)", "zh": "发出关注的词元（query）"},
    "y_cosine": {"en": "cosine", "zh": "余弦相似度"},
    "y_accuracy": {"en": "accuracy", "zh": "准确率"},
    "y_rank": {"en": "rank", "zh": "排名"},
    "proj_sub_pca": {
        "en": "PCA, 2 components · explained variance {a:.1%} + {b:.1%}: the rest of the "
        "variance is not shown, so distances here are only part of the picture",
        "zh": "PCA，2 个主成分 · 解释方差 {a:.1%} + {b:.1%}：其余方差没有画出，图中的距离只反映一部分信息",
    },
    "proj_sub_tsne": {
        "en": "t-SNE, perplexity {perp:g}, seed {seed}",
        "zh": "t-SNE，困惑度 {perp:g}，随机种子 {seed}",
    },
    "model_view_open": {
        "en": "Open above: layer {layer}, {head}.",
        "zh": "上方已打开：第 {layer} 层，{head}。",
    },
    "attention_help": {
        "en": "Each row is a token asking (query); each column a token being looked at (key). "
        "Hover for the exact value.",
        "zh": "每一行是发出关注的词元（query），每一列是被关注的词元（key）。悬停可查看精确数值。",
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
        "writes into the token vectors. (In BERT's post-LayerNorm layers the feed-forward "
        "output is added to the normalised h, not to the layer input; one denominator keeps "
        "the two bars comparable.)",
        "zh": "对所有词元取平均的 ‖模块输出‖ / ‖层输入‖：每个模块对词元向量写入的改变有多大。"
        "（在 BERT 的后置 LayerNorm 结构中，前馈网络的输出加到归一化后的 h 上，而不是层输入上；用同一个分母是为了让两根柱子可以比较。）",
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
    "heads_computing": {"en": "Measuring every head...", "zh": "正在统计每个注意力头……"},
    "heads_table": {
        "en": "Every head, sortable (click a row to open that head)",
        "zh": "所有注意力头（可排序，点击一行即可打开该头）",
    },
    "heads_help": {
        "en": "entropy: how spread out a head's attention is (bits); distance: mean |query − key| "
        "in tokens; to_*: share of attention going to [CLS], [SEP], punctuation, the token "
        "itself, the previous and the next token. The shares can overlap (the previous token may be "
        "[CLS]), so they need not add up to 1.",
        "zh": "熵：注意力分散程度（比特）；平均距离：query 与 key 的平均距离（词元数）；→…：分配给 [CLS]、[SEP]、"
        "标点、自身、前一个词元、后一个词元的注意力比例。这些比例可能重叠（前一个词元可能就是 [CLS]），所以加起来不一定等于 1。"
        "下载的 CSV 使用英文列名（entropy、distance、to_*）。",
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
    "share_too_long": {
        "en": "This text is {n:,} characters long, too long for a link (at most {limit:,}): a "
        "copied link opens this view with the example sentence instead. Share the trace (.npz) "
        "or the text itself.",
        "zh": "这段文本有 {n:,} 个字符，超出链接能容纳的长度（最多 {limit:,} 个）：复制的链接会以示例句子打开此视图。"
        "请分享追踪数据（.npz）或文本本身。",
    },
    "image_format": {"en": "Chart download format", "zh": "图表下载格式"},
    "tokens": {"en": "Tokens", "zh": "词元"},
    "bad_model": {"en": "The model could not be loaded: {msg}", "zh": "无法加载模型：{msg}"},
    # ---- issue 4 views
    "view_math": {"en": "The math of one head", "zh": "单个注意力头的计算过程"},
    "view_contrast": {"en": "Contrast: one word, two meanings", "zh": "对比：同一个词，不同含义"},
    "view_probe": {"en": "Which layer should I use?", "zh": "该用哪一层？"},
    "view_mlm": {"en": "MLM lens", "zh": "逐层解码（MLM）"},
    "view_ablation": {"en": "Head ablation", "zh": "注意力头消融"},
    "attention_mode": {"en": "Show", "zh": "显示"},
    "mode_raw": {"en": "raw attention", "zh": "原始注意力"},
    "mode_rollout": {"en": "attention rollout", "zh": "注意力展开（rollout）"},
    "mode_norm": {"en": "norm-based ‖α·f(x)‖", "zh": "基于范数 ‖α·f(x)‖"},
    "mode_help_raw": {
        "en": "Raw weights α: what the softmax gives each key; a row sums to 1, it is how that token spreads its attention. Large weights on [CLS]/[SEP] often mean 'nothing to do' rather than 'important'.",
        "zh": "原始权重 α：softmax 分配给每个 key 的权重；每行之和为 1，表示该词元如何分配注意力。[CLS]/[SEP] 上的大权重往往表示“无事可做”，而不是“重要”。",
    },
    "mode_help_rollout": {
        "en": "Rollout (Abnar & Zuidema 2020) multiplies the head-averaged attention of every layer up to this one, adding the residual connection (A + I, renormalised): row i shows how much of each input token (column) has flowed into position i by this layer. A row sums to 1. The thumbnails below stay raw attention per head.",
        "zh": "Rollout（Abnar 与 Zuidema，2020）把直到当前层为止每一层（各头平均后的）注意力相乘，并加入残差连接（A + I 后重新归一化）：第 i 行表示到这一层为止，各输入词元（列）流入位置 i 的比例，每行之和为 1。下方缩略图仍是各头的原始注意力。",
    },
    "mode_help_norm": {
        "en": "Norm-based attention (Kobayashi et al. 2020) weighs α by the size of what the key token actually sends, ‖α_ij f(x_j)‖ with f(x_j) = v_j W_O: a big weight on a token that sends a tiny vector counts for little. These are lengths of vectors, not probabilities: rows do not sum to 1.",
        "zh": "基于范数的注意力（Kobayashi 等，2020）用 key 词元实际发送内容的大小加权 α：‖α_ij f(x_j)‖，其中 f(x_j) = v_j W_O。如果一个词元发送的向量很小，即使权重大，作用也很小。这些数值是向量长度而不是概率，每行之和不为 1。",
    },
    "query_token": {"en": "Query token", "zh": "查询词元"},
    "math_check_ok": {
        "en": "Recomputed from the weights: the largest difference from the layer output captured in the model is {diff:.2e} (≤ 1e-4).",
        "zh": "由权重重新计算：与模型中捕获的层输出的最大差异为 {diff:.2e}（≤ 1e-4）。",
    },
    "math_check_bad": {
        "en": "Recomputation differs from the captured output by {diff:.2e} (more than 1e-4).",
        "zh": "重新计算的结果与捕获的输出相差 {diff:.2e}（超过 1e-4）。",
    },
    "math_x": {"en": "1. The layer input X: one row per token", "zh": "1. 层输入 X：每个词元一行"},
    "math_qkv": {
        "en": "2. Queries, keys and values of this head ({dk} wide)",
        "zh": "2. 这个头的 query、key 和 value（宽度 {dk}）",
    },
    "math_scores": {
        "en": "3. Scores of the query token against every key. m_j is the padding mask: 0 for a real token, a very large negative number for padding, so padding gets no weight after the softmax. One input, sentence or pair, has no padding, so here it adds 0.",
        "zh": "3. 查询词元对每个 key 的得分。m_j 是填充掩码：真实词元为 0，填充位置为一个极大的负数，因此 softmax 后填充得不到任何权重。单个输入（无论单句还是句对）没有填充，所以这里加的是 0。",
    },
    "math_relative": {
        "en": "r: the relative-position term this model adds to every score, captured from the model (MPNet: a learned bias per distance bucket; DeBERTa: content-to-position and position-to-content products, hence the larger divisor). It is included in the bars below.",
        "zh": "r：该模型加到每个得分上的相对位置项，取自模型本身（MPNet：按距离分桶学习的偏置；DeBERTa：内容到位置与位置到内容的乘积，因此除数更大）。下方柱状图已包含此项。",
    },
    "math_softmax": {
        "en": "4. Softmax turns the scores into weights that sum to 1",
        "zh": "4. Softmax 把得分变成和为 1 的权重",
    },
    "math_sum": {
        "en": "5. The weighted sum of the values: this head's output for the query token",
        "zh": "5. value 的加权和：这个头对查询词元的输出",
    },
    "math_concat": {
        "en": "6. All heads concatenated, then the output projection",
        "zh": "6. 拼接所有头，再做输出投影",
    },
    "math_ln1": {"en": "7. Residual add and LayerNorm", "zh": "7. 残差相加与 LayerNorm"},
    "math_ffn": {"en": "8. The feed-forward block ({act})", "zh": "8. 前馈网络（{act}）"},
    "math_ln2": {
        "en": "9. Second residual add and LayerNorm: the layer output",
        "zh": "9. 第二次残差相加与 LayerNorm：层输出",
    },
    "contrast_sentences": {
        "en": "Sentences that use the word (one per line)",
        "zh": "包含该词的句子（每行一句）",
    },
    "contrast_word": {"en": "The shared word", "zh": "共同的词"},
    "contrast_missing": {
        "en": "The word was not found in: {which}",
        "zh": "以下句子中没有找到该词：{which}",
    },
    "contrast_need_two": {
        "en": "Give at least two sentences that contain the word.",
        "zh": "请至少给出两个包含该词的句子。",
    },
    "contrast_pairs": {
        "en": "Cosine similarity of the word's vectors, sentence pairs",
        "zh": "该词向量的余弦相似度（句子两两比较）",
    },
    "contrast_self": {
        "en": "Self-similarity and anisotropy (Ethayarajh 2019)",
        "zh": "自相似度与各向异性（Ethayarajh，2019）",
    },
    "contrast_help": {
        "en": "Self-similarity: mean cosine of the word's vectors across the sentences. Anisotropy: mean cosine between unrelated tokens of different sentences, the baseline any cosine should be read against. The lower the self-similarity minus the baseline, the more the word's vector depends on its context at that layer (Ethayarajh 2019 finds it falls in upper layers).",
        "zh": "自相似度：该词在各句子中向量的平均余弦。各向异性：不同句子中无关词元之间的平均余弦，是解读任何余弦的基线。自相似度减去基线越低，说明该层中这个词的向量越依赖上下文（Ethayarajh 2019 发现越到上层越低）。",
    },
    "self_similarity": {"en": "self-similarity", "zh": "自相似度"},
    "anisotropy": {"en": "anisotropy (baseline)", "zh": "各向异性（基线）"},
    "adjusted": {"en": "self-similarity − anisotropy", "zh": "自相似度 − 各向异性"},
    "probe_data": {"en": "Data", "zh": "数据"},
    "probe_sample_sentiment": {
        "en": "sample: sentiment (240 reviews)",
        "zh": "示例：情感（240 条评论）",
    },
    "probe_sample_topic": {
        "en": "sample: topic (240 headlines)",
        "zh": "示例：主题（240 条新闻标题）",
    },
    "probe_upload": {"en": "my own CSV (text,label)", "zh": "我自己的 CSV（text,label）"},
    "probe_file": {
        "en": "CSV with columns text,label (UTF-8, up to 5 MB, 5,000 rows)",
        "zh": "包含 text,label 两列的 CSV（UTF-8，最多 5 MB、5,000 行）",
    },
    "probe_run": {"en": "Run the probe", "zh": "运行探针"},
    "probe_running": {
        "en": "Embedding {n} texts and training {m} probes...",
        "zh": "正在嵌入 {n} 条文本并训练 {m} 个探针……",
    },
    "probe_title": {
        "en": "Cross-validated accuracy of a logistic-regression probe per layer",
        "zh": "每一层上逻辑回归探针的交叉验证准确率",
    },
    "probe_help": {
        "en": "For each layer and pooling, the sentence vectors of your texts train a logistic regression ({folds}-fold cross-validation, error bars = ±1 std over folds). The star marks the best; chance level is {chance:.0%}. [CLS] pooling at layer emb is at chance by construction: before any layer, the [CLS] vector is the same for every sentence.",
        "zh": "对每一层和每种池化方式，用文本的句向量训练逻辑回归（{folds} 折交叉验证，误差线 = 各折的 ±1 标准差）。星号标记最佳结果；随机猜测的准确率为 {chance:.0%}。在嵌入层（emb）用 [CLS] 池化必然只有随机水平：经过任何一层之前，每个句子的 [CLS] 向量都相同。",
    },
    "probe_best": {
        "en": "Best: layer {layer} with {pooling} pooling, accuracy {acc:.1%} ± {std:.1%}. Within one std of it: {close}. Differences inside the error bars are noise: any of these is a fair choice.",
        "zh": "最佳：第 {layer} 层，{pooling} 池化，准确率 {acc:.1%} ± {std:.1%}。与之相差不到一个标准差的：{close}。误差线之内的差别只是噪声，其中任何一个都是合理的选择。",
    },
    "probe_download": {
        "en": "Download layer {layer} ({pooling}) embeddings of all {n} texts (.csv)",
        "zh": "下载全部 {n} 条文本在第 {layer} 层（{pooling}）的向量（.csv）",
    },
    "probe_start": {
        "en": "Pick the data and press the button. Results are cached.",
        "zh": "选择数据并点击按钮。结果会被缓存。",
    },
    "mlm_unavailable": {
        "en": "{name} has no masked-language-model head, so there is nothing to decode: it was trained to produce sentence embeddings (the bundled default is such a model). Load a model trained with masked language modelling, such as bert-base-uncased, from the Hub or a local folder.",
        "zh": "{name} 没有掩码语言模型头，因此无法解码：它被训练用来生成句向量（内置默认模型就是这样）。请从 Hub 或本地文件夹加载一个用掩码语言建模训练的模型，例如 bert-base-uncased。",
    },
    "mlm_word": {"en": "Word to mask", "zh": "要遮盖的词"},
    "mlm_topk": {"en": "Predictions per layer", "zh": "每层的预测数量"},
    "mlm_table": {
        "en": "Top predictions decoded from every layer",
        "zh": "从每一层解码出的最可能预测",
    },
    "mlm_rank": {
        "en": "Rank of the final answer '{tok}' at each layer (1 = top)",
        "zh": "最终答案“{tok}”在每一层的排名（1 = 第一）",
    },
    "mlm_help": {
        "en": "The word is replaced by one mask token; the model's own MLM head is applied to the hidden state at the mask after every layer.",
        "zh": "该词被替换为一个掩码词元；在每一层之后，把模型自己的 MLM 头应用到掩码位置的隐藏状态上。",
    },
    "ablation_heads": {"en": "Heads to switch off", "zh": "要关闭的注意力头"},
    "ablation_drift": {
        "en": "How far each layer's token vectors move (mean 1 − cosine)",
        "zh": "每一层词元向量的偏移量（平均 1 − 余弦）",
    },
    "ablation_help": {
        "en": "A switched-off head's output is set to zero before the output projection; layers before it are untouched, later layers feel the change.",
        "zh": "被关闭的头在输出投影之前输出置零；它之前的层不受影响，之后的层会感受到变化。",
    },
    "ablation_none": {
        "en": "Pick one or more heads to switch off.",
        "zh": "请选择一个或多个要关闭的头。",
    },
    "ablation_pick": {"en": "Choose heads, e.g. L3H4", "zh": "选择注意力头，例如 L3H4"},
    "ablation_scan_header": {"en": "Which heads matter?", "zh": "哪些头重要？"},
    "ablation_scan": {
        "en": "Scan every head: switch each of the {n} off on its own",
        "zh": "逐个扫描：{n} 个注意力头，每次只关闭一个",
    },
    "ablation_scan_title": {
        "en": "How far the last layer moves when one head is switched off",
        "zh": "单独关闭一个注意力头时，最后一层移动了多少",
    },
    "ablation_scan_help": {
        "en": "Each cell is one head switched off alone: 1 − cosine between the last layer's token vectors with and without it, averaged over tokens. The brightest heads change this sentence's final representation most; many heads can be removed with almost no effect (Michel et al. 2019, 'Are Sixteen Heads Really Better than One?', measured on task accuracy). Read layers with care: heads of the last layers sit right before the point measured, so they tend to score higher. Click a cell to switch that head off above.",
        "zh": "每个格子表示单独关闭一个头：最后一层词元向量在关闭前后的 1 − 余弦，对所有词元取平均。颜色最亮的头对这句话最终表示的改变最大；很多头关掉后几乎没有影响（Michel 等，2019，《Are Sixteen Heads Really Better than One?》，以任务准确率衡量）。比较不同层时要小心：最后几层的头紧挨着被测量的位置，得分往往偏高。点击一个格子即可在上方关闭该头。",
    },
    "ablation_scan_top": {
        "en": "Largest effect: {heads}.",
        "zh": "影响最大的头：{heads}。",
    },
    "ablation_scanning": {
        "en": "Switched off {i} of {n} heads…",
        "zh": "已关闭 {i} / {n} 个头…",
    },
    "ablation_mlm": {
        "en": "Masked-word predictions with and without those heads",
        "zh": "关闭这些头前后对被遮盖词的预测",
    },
    "before": {"en": "all heads", "zh": "所有头"},
    "after": {"en": "heads switched off", "zh": "关闭部分头后"},
    "none_option": {"en": "(none)", "zh": "（无）"},
    "not_allowed": {
        "en": "This server only offers these models: {models}.",
        "zh": "此服务器只提供以下模型：{models}。",
    },
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
