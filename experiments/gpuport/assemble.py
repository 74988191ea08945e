"""Builds a diffusers folder from train.py's outputs: a copy of the base folder (the one
train.py read through GPUPORT_MODEL; shapes/model by default) whose UNet and text
encoders (weights and configs) are the trained variant's. Standard library only.

  python3 experiments/gpuport/assemble.py OUT_DIR VARIANT DEST [BASE]
"""
import json, os, shutil, sys

out, variant, dest = sys.argv[1:4]
base = sys.argv[4] if len(sys.argv) > 4 else "shapes/model"
if os.path.exists(dest):
    raise SystemExit(f"{dest} exists; remove it first")
shutil.copytree(base, dest)
with open(os.path.join(out, f"{variant}-configs.json")) as f:
    cfgs = json.load(f)
weights = {"unet": "diffusion_pytorch_model.safetensors", "text_encoder": "model.safetensors",
           "text_encoder_2": "model.safetensors"}
for part, name in weights.items():
    shutil.copyfile(os.path.join(out, f"{variant}-{part}.safetensors"), os.path.join(dest, part, name))
    with open(os.path.join(dest, part, "config.json"), "w") as f:
        json.dump(cfgs[part], f, indent=2)
print(f"model={dest}")
