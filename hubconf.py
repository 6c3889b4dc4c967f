"""torch.hub entrypoints of the spiking model zoo: one per architecture.

    model = torch.hub.load("<repo or dir>", "stbp_cnn", source="local", pretrained=True)
    model = torch.hub.load("<repo or dir>", "sew_resnet18", source="local", pretrained="fmnist_iand_t4")

Each entrypoint is ``fn(pretrained=False, **kwargs)``; kwargs override construction arguments
(``num_classes``, ``in_channels``, ``T``, ``neuron``, ``surrogate``, ...). Importing this file does no
dataset or CUDA work. ``torch.hub.load`` checks a name against ``dir(hubconf)`` before it asks for it, so
a misspelt one gets torch's own "Cannot find callable"; ``torch.hub.list`` shows every name, and an
attribute asked for directly (``hubconf.sew_resnt18``) names the close ones.
"""
dependencies = ["torch", "torchvision", "spikingjelly", "safetensors", "yaml"]

from zoo.hub.factory import create_model as _create_model  # noqa: E402
from zoo.hub.factory import list_models as _list_models  # noqa: E402
from zoo.hub.registry import model_entry as _model_entry  # noqa: E402


def _entrypoint(arch: str):
    entry = _model_entry(arch)
    tags = [name for name in _list_models(pretrained=True) if name.split(".")[0] == arch]

    def load(pretrained: bool | str = False, **kwargs):
        return _create_model(arch, pretrained=pretrained, **kwargs)

    load.__name__ = load.__qualname__ = arch
    load.__doc__ = (f"{entry.doc}\n\nPaper: {entry.paper}\n"
                    f"Shipped weights: {', '.join(tags) if tags else 'none yet'}\n"
                    f"pretrained=True loads the default weight, pretrained='<tag>' another; kwargs override "
                    f"construction arguments.")
    return load


for _arch in _list_models():
    globals()[_arch] = _entrypoint(_arch)
del _arch


def __getattr__(name: str):
    if name.startswith("_"):  # tools probe private names (IPython's canaries): those are plain misses
        raise AttributeError(name)
    _model_entry(name)  # an unknown name: UnknownModelError with the close names
    raise AttributeError(name)
