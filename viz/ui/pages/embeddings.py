"""Token embeddings in 2-D: PCA or t-SNE of one layer, or of every layer fitted together with a
line following each token."""

from __future__ import annotations

import streamlit as st

from viz.analysis.projection import METHODS, Projection, project_layers
from viz.figures import projection as projection_fig
from viz.figures import syntax as syntax_fig
from viz.figures.common import position_labels
from viz.trace import Trace
from viz.ui import state
from viz.ui.cached import get_trace
from viz.ui.i18n import labeller, tr
from viz.ui.pages.attention import follow_default, moved, token_tags
from viz.ui.pages.syntax import pos_names
from viz.ui.state import TraceKey
from viz.ui.widgets import LAYER, chart

FRAGMENT = True  # its controls rerun only this page (viz/ui/app.py)
TSNE_FEW_POINTS = 60  # below this, the page warns that t-SNE's picture says little
# Above this many tokens the page starts from one layer: every layer's points and paths at
# once (7 x 300 = 2,100 points on the default model) hide each other.
ONE_LAYER_FROM = 100
SCOPES, COLORS = ("all", "one"), ("layer", "token")
METHOD = state.widget("proj_method", link=state.choice(METHODS))
SCOPE = state.widget("proj_scope", translated=True, link=state.choice(SCOPES))
COLOR = state.widget("proj_color", translated=True, link=state.choice(COLORS))
ONE_LAYER = state.widget("proj_layer", link=state.NUMBER, clamp=state.layers_from(0))
POS_TAGS = state.widget("proj_pos_tags", link=state.FLAG)


@st.cache_data(max_entries=64, show_spinner=False)
def projection(key: TraceKey, layers: tuple[int, ...], method: str):
    _t = get_trace(key)
    return project_layers(_t.hidden_states, list(layers), method)


def projection_subtitle(proj: Projection) -> str:
    if proj.method == "PCA" and proj.explained is not None:
        a, b = proj.explained
        return tr("proj_sub_pca", a=a, b=b)
    if proj.method == "t-SNE" and proj.perplexity is not None:
        return tr("proj_sub_tsne", seed=proj.seed, perp=proj.perplexity)
    return proj.params


def render(t: Trace, key: TraceKey) -> None:
    f = t.facts
    c1, c2, c3, c4 = st.columns([2, 3, 2, 3])
    method = c1.radio(tr("method"), METHODS, horizontal=True, key=METHOD)
    long_input = t.num_tokens > ONE_LAYER_FROM
    follow_default(SCOPE, "one" if long_input else "all")  # until the user picks one
    scope = c2.radio(
        tr("which_layers"),
        SCOPES,
        horizontal=True,
        key=SCOPE,
        format_func=labeller(lambda s: "all_layers" if s == "all" else "one_layer"),
        on_change=moved(SCOPE),
    )
    color = c3.radio(
        tr("color_by"),
        COLORS,
        horizontal=True,
        key=COLOR,
        format_func=labeller(lambda s: f"color_{s}"),
    )
    # rings in each token's part-of-speech colour, as the attention page's box marks its labels
    shown = c4.checkbox(tr("pos_tags"), key=POS_TAGS, help=tr("proj_pos_help"))
    tags = token_tags(t) if shown else None
    if scope == "one":
        st.slider(
            tr("layer_emb"),
            0,
            f.num_layers,
            key=ONE_LAYER,
            # the layer open on the other pages; the last one when none is (a link to here)
            value=min(st.session_state.get(LAYER, f.num_layers), f.num_layers),
        )
        layers = (st.session_state[ONE_LAYER],)
    else:
        layers = tuple(range(f.num_layers + 1))
    st.caption(tr("projection_help"))
    if long_input and scope == "one":
        points = (f.num_layers + 1) * t.num_tokens
        st.caption(tr("proj_one_layer_long", t=t.num_tokens, n=ONE_LAYER_FROM, points=points))
    with st.spinner(tr("projecting")):
        proj = projection(key, layers, method)
    axes = ("PC 1", "PC 2") if method == "PCA" else ("t-SNE 1", "t-SNE 2")
    fig = projection_fig.token_paths(
        proj,
        list(t.display_tokens),
        list(layers),
        color,
        tr("projection_title"),
        axes,
        subtitle=projection_subtitle(proj),
        colour_key=tr("color_key_token"),
    )
    if tags is not None:
        xy = proj.coords.reshape(len(layers), t.num_tokens, 2)
        hover = position_labels(list(t.display_tokens))
        syntax_fig.pos_rings(fig, xy, tags, hover, pos_names(tags), tr("pos_legend"))
    chart(fig, key="projection")
    if method == "t-SNE" and len(proj.coords) < TSNE_FEW_POINTS:
        st.caption(tr("tsne_few_points", n=len(proj.coords)))
