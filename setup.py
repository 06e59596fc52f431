"""htr: handwriting recognition in JAX."""

import setuptools

# What each dependency is for is explained in README.md ("Dependencies").
JAX_VERSIONS = ">=0.10,<0.11"  # The CPU build, or an accelerator build through an extra.

INSTALL_REQUIRES = [
    f"jax{JAX_VERSIONS}",
    "flax>=0.12",
    "optax>=0.2.8",
    "orbax-checkpoint>=0.12",
    "grain>=0.2.18",
    "tensorflow-datasets>=4.9.10",
    "importlib_resources",  # TFDS builds programmatically only with it.
    "ml-collections>=1.0",
    "clu>=0.0.12",
    "tensorboard",  # clu.metric_writers imports it.
    "editdistance>=0.8",
    "numpy>=1.26",
    "ml_dtypes",  # bfloat16 weights in exports and zoo entries (comes with jax).
    "absl-py",
    "chex>=0.1.90",
    "defusedxml>=0.7",
    "hershey-fonts>=2.1",
    "wordfreq>=3.1",
    "scikit-learn>=1.4",
    "scipy>=1.11",  # Image augmentation and connected components on the host.
    "pycocotools>=2.0",  # Line detection mAP@0.5 and mAP@0.5:0.95 (COCOeval), not by hand.
    "pillow>=10",
    "tensorflow-cpu>=2.21",  # TFDS feature encoding; jax2tf export.
    "fastapi>=0.115",  # htr serve: the HTTP API.
    "uvicorn>=0.30",  # htr serve: the ASGI server.
    "python-multipart>=0.0.9",  # htr serve: InkML and image uploads.
    "prometheus_client>=0.20",  # htr serve: /metrics.
    "httptools>=0.6",  # htr serve: uvicorn's fast HTTP parser (picked up when installed).
    "uvloop>=0.19",  # htr serve: uvicorn's fast event loop (picked up when installed).
]

EXTRAS_REQUIRE = {
    "dev": ["pytest>=8", "pytest-xdist>=3", "nbclient", "nbformat", "ipykernel",
            "httpx", "playwright>=1.45", "schemathesis>=3.30"],
    "bench": ["torch==2.13.0", "psutil>=5.9"],
    "cuda": [f"jax[cuda12]{JAX_VERSIONS}"],  # NVIDIA GPUs: jaxlib's CUDA 12 plugin and libraries.
    "tpu": [f"jax[tpu]{JAX_VERSIONS}"],  # Cloud TPU VMs: libtpu.
}

setuptools.setup(
    name="htr",
    version="0.1.0",
    description="Handwriting recognition in JAX: online ink, characters, math, pages.",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["htr", "htr.*"]) + [
        "htr_datasets" + (f".{name}" if name else "")
        for name in [""] + setuptools.find_packages("datasets")],
    # The TFDS builders live in datasets/ (the design-card layout) but import as
    # `htr_datasets`, so they never shadow Hugging Face's `datasets` package.
    package_dir={"htr_datasets": "datasets"},
    package_data={"htr.serve": ["static/*"],  # The drawing page.
                  "htr.zoo": ["entries/*/*"]},  # Pretrained models.
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["htr=htr.cli:main"]},
)
