"""The shapes world's base model in PyTorch, for measuring on a GPU what more compute
and capacity do to the base model (experiments/gpuport/README.md).

An experiment aid, not part of latexblend: nothing in the build or the tests runs it.
The modules mirror diffusers' UNet2DConditionModel and AutoencoderKL encoder and
transformers' CLIPTextModel(WithProjection) for the shapes model's configs, with the
same parameter names, so the weights load into latexblend unchanged. `prep` checks the
port against reference tensors from latexblend's own code (experiments/gpuport/reference)
and stops on a mismatch; `train` follows shapes/base's UNet recipe (joint UNet and text
encoders, min-SNR 5, EMA 0.999, 10 % caption dropout, tail swap 0.5 with the pooled
embedding, AdamW wd 0.01, clip 1) with the learning-rate schedule over wall time.

  python3 train.py prep DATA_DIR N REFERENCE            # encode the pool into /tmp/pool.pt
  python3 train.py train VARIANT OUT SECONDS BATCH LR N # VARIANT: base, attn16, big [-phrase]

GPUPORT_MODEL names the base folder (default shapes/model).
"""
import json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

# The base folder whose VAE encodes the pool and whose configs the variants start from;
# GPUPORT_MODEL picks another (a model trained with a longer VAE phase, say).
MODEL = os.environ.get("GPUPORT_MODEL", "shapes/model")
dev = "cuda"
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


# ---------------- common blocks ----------------
class Resnet(nn.Module):
    def __init__(s, cin, cout, groups, eps, temb=None):
        super().__init__()
        s.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        s.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb:
            s.time_emb_proj = nn.Linear(temb, cout)
        s.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        s.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            s.conv_shortcut = nn.Conv2d(cin, cout, 1)
        s.has_t = bool(temb)
        s.short = cin != cout

    def forward(s, x, temb=None):
        h = s.conv1(F.silu(s.norm1(x)))
        if s.has_t:
            h = h + s.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = s.conv2(F.silu(s.norm2(h)))
        return (s.conv_shortcut(x) if s.short else x) + h


class Conv(nn.Module):  # holds ".conv" for down/up samplers
    def __init__(s, c, stride=1, pad=1):
        super().__init__()
        s.conv = nn.Conv2d(c, c, 3, stride=stride, padding=pad)


# ---------------- VAE encoder ----------------
class VAEAttn(nn.Module):
    def __init__(s, c, groups):
        super().__init__()
        s.group_norm = nn.GroupNorm(groups, c, eps=1e-6)
        s.to_q, s.to_k, s.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        s.to_out = nn.ModuleList([nn.Linear(c, c)])

    def forward(s, x):
        b, c, h, w = x.shape
        y = s.group_norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = s.to_q(y), s.to_k(y), s.to_v(y)
        a = torch.softmax((q @ k.transpose(1, 2)).float() / math.sqrt(c), -1)
        y = s.to_out[0](a @ v)
        return x + y.transpose(1, 2).reshape(b, c, h, w)


class VAEDown(nn.Module):
    def __init__(s, cin, cout, groups, down):
        super().__init__()
        s.resnets = nn.ModuleList([Resnet(cin, cout, groups, 1e-6)])
        if down:
            s.downsamplers = nn.ModuleList([Conv(cout, 2, 0)])
        s.down = down

    def forward(s, x):
        x = s.resnets[0](x)
        if s.down:
            x = s.downsamplers[0].conv(F.pad(x, (0, 1, 0, 1)))
        return x


class VAEMid(nn.Module):
    def __init__(s, c, groups):
        super().__init__()
        s.resnets = nn.ModuleList([Resnet(c, c, groups, 1e-6), Resnet(c, c, groups, 1e-6)])
        s.attentions = nn.ModuleList([VAEAttn(c, groups)])

    def forward(s, x):
        return s.resnets[1](s.attentions[0](s.resnets[0](x)))


class VAEEncoder(nn.Module):
    def __init__(s, chans=(16, 32, 64), groups=8, latent=4):
        super().__init__()
        s.conv_in = nn.Conv2d(3, chans[0], 3, padding=1)
        blocks, cin = [], chans[0]
        for i, c in enumerate(chans):
            blocks.append(VAEDown(cin, c, groups, i < len(chans) - 1))
            cin = c
        s.down_blocks = nn.ModuleList(blocks)
        s.mid_block = VAEMid(cin, groups)
        s.conv_norm_out = nn.GroupNorm(groups, cin, eps=1e-6)
        s.conv_out = nn.Conv2d(cin, 2 * latent, 3, padding=1)

    def forward(s, x):
        x = s.conv_in(x)
        for b in s.down_blocks:
            x = b(x)
        x = s.mid_block(x)
        return s.conv_out(F.silu(s.conv_norm_out(x)))


class VAE(nn.Module):
    def __init__(s):
        super().__init__()
        s.encoder = VAEEncoder()
        s.quant_conv = nn.Conv2d(8, 8, 1)

    def forward(s, x):
        m = s.quant_conv(s.encoder(x))
        mean, logvar = m.chunk(2, 1)
        logvar = logvar.clamp(-30, 20)
        return mean, torch.exp(0.5 * logvar)


# ---------------- CLIP text encoder ----------------
class CLIPLayer(nn.Module):
    def __init__(s, d, heads, inter, act):
        super().__init__()
        s.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
        s.self_attn = nn.Module()
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(s.self_attn, n, nn.Linear(d, d))
        s.layer_norm2 = nn.LayerNorm(d, eps=1e-5)
        s.mlp = nn.Module()
        s.mlp.fc1, s.mlp.fc2 = nn.Linear(d, inter), nn.Linear(inter, d)
        s.heads, s.act = heads, act

    def forward(s, x):
        b, l, d = x.shape
        h = s.layer_norm1(x)
        a = s.self_attn
        sp = lambda t: t.view(b, l, s.heads, d // s.heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(sp(a.q_proj(h)), sp(a.k_proj(h)), sp(a.v_proj(h)), is_causal=True)
        x = x + a.out_proj(y.transpose(1, 2).reshape(b, l, d))
        h = s.mlp.fc1(s.layer_norm2(x))
        h = h * torch.sigmoid(1.702 * h) if s.act == "quick_gelu" else F.gelu(h)
        return x + s.mlp.fc2(h)


class CLIPText(nn.Module):
    def __init__(s, cfg, projection):
        super().__init__()
        d = cfg["hidden_size"]
        tm = nn.Module()
        tm.embeddings = nn.Module()
        tm.embeddings.token_embedding = nn.Embedding(cfg["vocab_size"], d)
        tm.embeddings.position_embedding = nn.Embedding(cfg["max_position_embeddings"], d)
        tm.encoder = nn.Module()
        tm.encoder.layers = nn.ModuleList(
            [CLIPLayer(d, cfg["num_attention_heads"], cfg["intermediate_size"], cfg["hidden_act"]) for _ in range(cfg["num_hidden_layers"])])
        tm.final_layer_norm = nn.LayerNorm(d, eps=1e-5)
        s.text_model = tm
        if projection:
            s.text_projection = nn.Linear(d, cfg["projection_dim"], bias=False)

    def forward(s, ids):
        """penultimate hidden state, and (encoder 2) the projected pooled EOS state"""
        tm = s.text_model
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[: ids.shape[1]][None]
        layers = tm.encoder.layers
        for lyr in layers[:-1]:
            x = lyr(x)
        pen = x
        if not hasattr(s, "text_projection"):
            return pen, None
        x = tm.final_layer_norm(layers[-1](x))
        pooled = x[torch.arange(ids.shape[0], device=ids.device), ids.argmax(-1)]
        return pen, s.text_projection(pooled)


# ---------------- UNet ----------------
class Attn(nn.Module):
    def __init__(s, d, heads, ctx_dim=None):
        super().__init__()
        cd = ctx_dim or d
        s.to_q = nn.Linear(d, d, bias=False)
        s.to_k = nn.Linear(cd, d, bias=False)
        s.to_v = nn.Linear(cd, d, bias=False)
        s.to_out = nn.ModuleList([nn.Linear(d, d)])
        s.heads = heads

    def forward(s, x, ctx=None):
        c = x if ctx is None else ctx
        b, l, d = x.shape
        sp = lambda t: t.view(b, -1, s.heads, d // s.heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(sp(s.to_q(x)), sp(s.to_k(c)), sp(s.to_v(c)))
        return s.to_out[0](y.transpose(1, 2).reshape(b, l, d))


class TBlock(nn.Module):
    def __init__(s, d, heads, ctx_dim):
        super().__init__()
        s.norm1, s.norm2, s.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        s.attn1 = Attn(d, heads)
        s.attn2 = Attn(d, heads, ctx_dim)
        s.ff = nn.Module()
        proj = nn.Module()
        proj.proj = nn.Linear(d, 8 * d)
        s.ff.net = nn.ModuleList([proj, nn.Identity(), nn.Linear(4 * d, d)])

    def forward(s, x, ctx):
        x = x + s.attn1(s.norm1(x))
        x = x + s.attn2(s.norm2(x), ctx)
        h, g = s.ff.net[0].proj(s.norm3(x)).chunk(2, -1)
        return x + s.ff.net[2](h * F.gelu(g))


class Transformer(nn.Module):
    def __init__(s, c, heads, ctx_dim, groups):
        super().__init__()
        s.norm = nn.GroupNorm(groups, c, eps=1e-6)
        s.proj_in = nn.Linear(c, c)
        s.transformer_blocks = nn.ModuleList([TBlock(c, heads, ctx_dim)])
        s.proj_out = nn.Linear(c, c)

    def forward(s, x, ctx):
        b, c, h, w = x.shape
        y = s.norm(x).permute(0, 2, 3, 1).reshape(b, h * w, c)
        y = s.proj_out(s.transformer_blocks[0](s.proj_in(y), ctx))
        return x + y.reshape(b, h, w, c).permute(0, 3, 1, 2)


def timestep_embedding(t, dim):
    half = dim // 2
    ex = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    e = t.float()[:, None] * ex[None]
    return torch.cat([torch.cos(e), torch.sin(e)], -1)


class TEmb(nn.Module):
    def __init__(s, cin, d):
        super().__init__()
        s.linear_1, s.linear_2 = nn.Linear(cin, d), nn.Linear(d, d)

    def forward(s, x):
        return s.linear_2(F.silu(s.linear_1(x)))


class UNet(nn.Module):
    def __init__(s, cfg):
        super().__init__()
        ch = cfg["block_out_channels"]
        heads = cfg["attention_head_dim"]  # diffusers: these are head counts
        groups, eps = cfg["norm_num_groups"], cfg["norm_eps"]
        cd = cfg["cross_attention_dim"][0] if isinstance(cfg["cross_attention_dim"], list) else cfg["cross_attention_dim"]
        L = cfg["layers_per_block"][0] if isinstance(cfg["layers_per_block"], list) else cfg["layers_per_block"]
        temb = ch[0] * 4
        s.td = cfg["addition_time_embed_dim"]
        s.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        s.time_embedding = TEmb(ch[0], temb)
        s.add_embedding = TEmb(cfg["projection_class_embeddings_input_dim"], temb)
        s.down_blocks = nn.ModuleList()
        cin = ch[0]
        s.down_attn = []
        for i, (bt, c) in enumerate(zip(cfg["down_block_types"], ch)):
            blk = nn.Module()
            blk.resnets = nn.ModuleList([Resnet(cin if j == 0 else c, c, groups, eps, temb) for j in range(L)])
            if bt.startswith("CrossAttn"):
                blk.attentions = nn.ModuleList([Transformer(c, heads[i], cd, groups) for _ in range(L)])
            if i < len(ch) - 1:
                blk.downsamplers = nn.ModuleList([Conv(c, 2, 1)])
            s.down_blocks.append(blk)
            cin = c
        s.mid_block = nn.Module()
        s.mid_block.resnets = nn.ModuleList([Resnet(cin, cin, groups, eps, temb), Resnet(cin, cin, groups, eps, temb)])
        s.mid_block.attentions = nn.ModuleList([Transformer(cin, heads[-1], cd, groups)])
        rch, rheads = ch[::-1], heads[::-1]
        s.up_blocks = nn.ModuleList()
        prev = rch[0]
        for i, (bt, c) in enumerate(zip(cfg["up_block_types"], rch)):
            inc = rch[min(i + 1, len(ch) - 1)]
            blk = nn.Module()
            rs = []
            for j in range(L + 1):
                skip = inc if j == L else c
                rin = prev if j == 0 else c
                rs.append(Resnet(rin + skip, c, groups, eps, temb))
            blk.resnets = nn.ModuleList(rs)
            if bt.startswith("CrossAttn"):
                blk.attentions = nn.ModuleList([Transformer(c, rheads[i], cd, groups) for _ in range(L + 1)])
            if i < len(ch) - 1:
                blk.upsamplers = nn.ModuleList([Conv(c)])
            s.up_blocks.append(blk)
            prev = c
        s.conv_norm_out = nn.GroupNorm(groups, ch[0], eps=eps)
        s.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)
        s.ch0 = ch[0]

    def forward(s, x, t, ctx, text_embeds, time_ids):
        emb = s.time_embedding(timestep_embedding(t, s.ch0))
        tid = timestep_embedding(time_ids.flatten(), s.td).reshape(x.shape[0], -1)
        emb = emb + s.add_embedding(torch.cat([text_embeds, tid], -1))
        h = s.conv_in(x)
        res = [h]
        for blk in s.down_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(h, emb)
                if hasattr(blk, "attentions"):
                    h = blk.attentions[j](h, ctx)
                res.append(h)
            if hasattr(blk, "downsamplers"):
                h = blk.downsamplers[0].conv(h)
                res.append(h)
        m = s.mid_block
        h = m.resnets[1](m.attentions[0](m.resnets[0](h, emb), ctx), emb)
        for blk in s.up_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(torch.cat([h, res.pop()], 1), emb)
                if hasattr(blk, "attentions"):
                    h = blk.attentions[j](h, ctx)
            if hasattr(blk, "upsamplers"):
                h = blk.upsamplers[0].conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return s.conv_out(F.silu(s.conv_norm_out(h)))


def load_cfg(sub):
    with open(os.path.join(MODEL, sub, "config.json")) as f:
        return json.load(f)


def load_strict(m, path, prefix=""):
    sd = load_file(path)
    if prefix:
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    missing, unexpected = m.load_state_dict(sd, strict=False)
    unexpected = [k for k in unexpected if not k.startswith(("decoder.", "post_quant_conv."))]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing[:5]} unexpected {unexpected[:5]}")


def encode(te1, te2, ids1, ids2):
    p1, _ = te1(ids1)
    p2, pooled = te2(ids2)
    return torch.cat([p1, p2], -1), pooled


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


# ---------------- reference check and data prep ----------------
def prep(data_dir, n, reference):
    ref = load_file(reference)
    ref = {k: v.to(dev) for k, v in ref.items()}
    vae = VAE().to(dev)
    load_strict(vae, os.path.join(MODEL, "vae/diffusion_pytorch_model.safetensors"))
    te1 = CLIPText(load_cfg("text_encoder"), False).to(dev)
    te2 = CLIPText(load_cfg("text_encoder_2"), True).to(dev)
    load_strict(te1, os.path.join(MODEL, "text_encoder/model.safetensors"))
    load_strict(te2, os.path.join(MODEL, "text_encoder_2/model.safetensors"))
    unet = UNet(load_cfg("unet")).to(dev)
    load_strict(unet, os.path.join(MODEL, "unet/diffusion_pytorch_model.safetensors"))
    ok = True
    with torch.no_grad():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        mean, std = vae(ref["vae_x"])
        ctx, pooled = encode(te1, te2, ref["ids1"].long(), ref["ids2"].long())
        out = unet(ref["unet_sample"], ref["unet_t"], ref["ctx"], ref["pooled"], ref["unet_time_ids"])
        for name, a, b in [("vae_mean", mean, ref["vae_mean"]), ("vae_std", std, ref["vae_std"]),
                           ("ctx", ctx, ref["ctx"]), ("pooled", pooled, ref["pooled"]), ("unet_out", out, ref["unet_out"])]:
            r = rel(a, b)
            log(f"check {name} max_rel={r:.2e}")
            ok = ok and r < 1e-3
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if not ok:
            raise SystemExit("the port does not match latexblend's reference tensors")
        imgs = np.fromfile(os.path.join(data_dir, "images.u8"), dtype=np.uint8).reshape(n, 64, 64, 3)
        means, stds = [], []
        for i in range(0, n, 4096):
            x = torch.from_numpy(imgs[i:i + 4096]).to(dev).permute(0, 3, 1, 2).float() / 127.5 - 1
            m, s = vae(x)
            means.append(m.half())
            stds.append(s.half())
        ids1 = torch.from_numpy(np.fromfile(os.path.join(data_dir, "ids1.i32"), dtype=np.int32).reshape(n, 77)).long()
        ids2 = torch.from_numpy(np.fromfile(os.path.join(data_dir, "ids2.i32"), dtype=np.int32).reshape(n, 77)).long()
        iso1, iso2, pk, pq = (torch.from_numpy(a) for a in phrase_tables(ids1.numpy(), ids2.numpy()))
        torch.save({"mean": torch.cat(means).cpu(), "std": torch.cat(stds).cpu(), "ids1": ids1, "ids2": ids2,
                    "iso1": iso1, "iso2": iso2, "pk": pk, "pq": pq}, "/tmp/pool.pt")
    log(f"pool of {n} encoded")


# ---------------- phrase swap ----------------
NOUNS = ("circle", "square", "triangle", "star", "ring", "cross")
ARTICLES = ("a", "an")
PHRASES = 3  # scenes have at most three objects


def phrase_tables(ids1, ids2):
    """For LatexBlend's situation in training: each object phrase of a caption ("a
    checkered star", article to noun) alone in "photo of <phrase>", as a concept entry is
    extracted. Returns iso1, iso2 [N, PHRASES, 77] (the isolated captions' ids, padded as
    each tokenizer pads; unused phrases are empty captions) and pk, pq [N, 77] (for each
    caption position inside a phrase, which isolated caption k and which position q in it
    hold the same token; -1 elsewhere). The captions' words are single tokens of the
    shapes vocabulary, which is checked."""
    with open(os.path.join(MODEL, "tokenizer", "vocab.json")) as f:
        vocab = json.load(f)
    word = lambda w: vocab[w + "</w>"]
    bos, eos = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    nouns = {word(w) for w in NOUNS}
    articles = {word(w) for w in ARTICLES}
    head = [bos, word("photo"), word("of")]
    n = ids1.shape[0]
    pad1, pad2 = int(ids1[0, -1]), int(ids2[0, -1])
    iso1 = np.full((n, PHRASES, 77), pad1, np.int32)
    iso2 = np.full((n, PHRASES, 77), pad2, np.int32)
    iso1[:, :, 0] = iso2[:, :, 0] = bos
    iso1[:, :, 1] = iso2[:, :, 1] = eos
    pk = np.full((n, 77), -1, np.int8)
    pq = np.zeros((n, 77), np.int8)
    for r in range(n):
        row = ids1[r]
        end = int(np.argmax(row == eos))
        if not np.array_equal(row[:end], ids2[r, :end]):
            raise SystemExit(f"caption {r}: the tokenizers disagree before the end of text")
        k, start = 0, None
        for p in range(1, end):
            t = int(row[p])
            if t in articles:
                start = p
            elif t in nouns and start is not None:
                if k == PHRASES:
                    raise SystemExit(f"caption {r}: more than {PHRASES} object phrases")
                toks = head + [int(x) for x in row[start:p + 1]] + [eos]
                iso1[r, k, :len(toks)] = toks
                iso2[r, k, :len(toks)] = toks
                for j in range(start, p + 1):
                    pk[r, j] = k
                    pq[r, j] = len(head) + j - start
                k, start = k + 1, None
        if k == 0 and end > 1:
            raise SystemExit(f"caption {r}: no object phrase found")
    return iso1, iso2, pk, pq


# ---------------- training ----------------
def init_clip(m):
    for mod in m.modules():
        if isinstance(mod, (nn.Linear, nn.Embedding)):
            nn.init.normal_(mod.weight, 0, 0.02)
            if getattr(mod, "bias", None) is not None:
                nn.init.zeros_(mod.bias)


def init_unet(m):
    for mod in m.modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)) and mod.bias is not None:
            nn.init.zeros_(mod.bias)


def train(variant, out_dir, seconds, batch, lr_peak, pool_n, seed):
    torch.manual_seed(seed)
    p = torch.load("/tmp/pool.pt")
    mean = p["mean"][:pool_n].to(dev)
    std = p["std"][:pool_n].to(dev)
    ids1 = p["ids1"][:pool_n].to(dev)
    ids2 = p["ids2"][:pool_n].to(dev)
    n = mean.shape[0]
    # "-phrase" adds the phrase swap (phrase_tables) to any of the three topologies.
    arch, phrase = (variant[:-len("-phrase")], True) if variant.endswith("-phrase") else (variant, False)
    if arch not in ("base", "attn16", "big"):
        raise SystemExit(f"unknown variant {variant!r}: want base, attn16 or big, each optionally with -phrase")
    if phrase:
        iso1, iso2 = p["iso1"][:pool_n].to(dev), p["iso2"][:pool_n].to(dev)
        pk, pq = p["pk"][:pool_n].to(dev), p["pq"][:pool_n].to(dev)
        rows = torch.arange(batch, device=dev)[:, None]
    ucfg = load_cfg("unet")
    if arch == "attn16":
        ucfg["down_block_types"] = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]
        ucfg["up_block_types"] = ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
    tcfg1, tcfg2 = load_cfg("text_encoder"), load_cfg("text_encoder_2")
    if arch == "big":
        ucfg["down_block_types"] = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]
        ucfg["up_block_types"] = ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
        ucfg["block_out_channels"] = [64, 128]
        ucfg["attention_head_dim"] = [4, 8]
        ucfg["norm_num_groups"] = 32
        ucfg["cross_attention_dim"] = [128]
        ucfg["projection_class_embeddings_input_dim"] = 64 + 48
        for c in (tcfg1, tcfg2):
            c.update(hidden_size=64, intermediate_size=128, num_hidden_layers=4, projection_dim=64)
    scale = load_cfg("vae")["scaling_factor"]
    unet = UNet(ucfg).to(dev)
    init_unet(unet)
    te1 = CLIPText(tcfg1, False).to(dev)
    te2 = CLIPText(tcfg2, True).to(dev)
    init_clip(te1)
    init_clip(te2)
    mods = [unet, te1, te2]
    params = [q for m in mods for q in m.parameters()]
    opt = torch.optim.AdamW(params, lr=lr_peak, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, fused=True)
    ema = [q.detach().clone() for q in params]
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    acp = torch.cumprod(1 - betas, 0).float().to(dev)
    snr = acp / (1 - acp)
    wts = torch.clamp(snr, max=5.0) / snr
    tids = torch.tensor([64, 64, 0, 0, 64, 64], dtype=torch.float32, device=dev).repeat(batch, 1)
    eos = 773
    pos = torch.arange(77, device=dev)[None, :, None]
    start = time.time()
    step, losses = 0, []
    log(f"{variant}: pool {n}, batch {batch}, lr {lr_peak}, {sum(q.numel() for q in unet.parameters())} unet params, {seconds}s")
    while True:
        frac = (time.time() - start) / seconds
        if frac >= 1:
            break
        lr = lr_peak * min(1.0, (frac + 1e-9) / 0.03) if frac < 0.03 else lr_peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (frac - 0.03) / 0.97)))
        for g in opt.param_groups:
            g["lr"] = lr
        i = torch.randint(0, n, (batch,), device=dev)
        x0 = (mean[i].float() + std[i].float() * torch.randn(batch, 4, 16, 16, device=dev)) * scale
        t = torch.randint(0, 1000, (batch,), device=dev)
        eps = torch.randn_like(x0)
        a = acp[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        ctx, pooled = encode(te1, te2, ids1[i], ids2[i])
        if phrase:
            # Half the rows read each object phrase as a concept entry is extracted: alone,
            # in "photo of <phrase>", so the UNet learns to place and draw a phrase from
            # its own rows, not from the words around it (LatexBlend's replacement).
            ictx, _ = encode(te1, te2, iso1[i].view(-1, 77).long(), iso2[i].view(-1, 77).long())
            ictx = ictx.view(batch, PHRASES, 77, -1)
            k = pk[i].long()
            g = ictx[rows, k.clamp(min=0), pq[i].long()]
            ctx = torch.where(((k >= 0) & (torch.rand(batch, device=dev) < 0.5)[:, None])[..., None], g, ctx)
        d = torch.randint(0, n, (batch,), device=dev)
        dctx, dpooled = encode(te1, te2, ids1[d], ids2[d])
        swap = torch.rand(batch, device=dev) < 0.5
        frm = (ids1[i] == eos).float().argmax(-1)  # first EOS
        take = (swap[:, None, None] & (pos >= frm[:, None, None]))
        ctx = torch.where(take, dctx, ctx)
        pooled = torch.where(swap[:, None], dpooled, pooled)
        keep = (torch.rand(batch, device=dev) >= 0.1).float()
        ctx = ctx * keep[:, None, None]
        pooled = pooled * keep[:, None]
        pred = unet(xt, t, ctx, pooled, tids)
        mse_row = ((pred - eps) ** 2).mean((1, 2, 3))
        loss = (wts[t] * mse_row).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        dec = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema, [q.detach() for q in params], 1 - dec)
        step += 1
        if step % 50 == 0:
            losses.append(mse_row.mean().item())
        if step % 1000 == 0:
            log(f"{variant} step {step} mse {np.mean(losses[-20:]):.4f} lr {lr:.2e} {time.time() - start:.0f}s")
    with torch.no_grad():
        for q, e in zip(params, ema):
            q.copy_(e)
    os.makedirs(out_dir, exist_ok=True)
    meta = {"format": "pt", "steps": str(step), "batch": str(batch), "lr": str(lr_peak), "pool": str(n),
            "trained_by": "experiments/gpuport/train.py"}
    # At most 4 files per variant: the device tool returns 8 files of up to 16 MB each.
    for name, m in (("unet", unet), ("text_encoder", te1), ("text_encoder_2", te2)):
        sd = {k: v.detach().float().cpu().contiguous() for k, v in m.state_dict().items()}
        if sum(v.numel() * 4 for v in sd.values()) > 15 << 20:
            sd = {k: v.half() for k, v in sd.items()}  # latexblend widens F16 on load
        save_file(sd, os.path.join(out_dir, f"{variant}-{name}.safetensors"), metadata=meta)
    with open(os.path.join(out_dir, f"{variant}-configs.json"), "w") as f:
        json.dump({"unet": ucfg, "text_encoder": tcfg1, "text_encoder_2": tcfg2}, f, indent=1)
    log(f"{variant} done: {step} steps x {batch} = {step * batch} samples, mse {np.mean(losses[-20:]):.4f}")


if __name__ == "__main__":
    if sys.argv[1] == "prep":
        prep(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        v, out, secs, batch, lr, pool = sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
        train(v, out, secs, batch, lr, pool, 1)
