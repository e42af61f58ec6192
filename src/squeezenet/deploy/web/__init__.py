"""The model in a web page: ``squeezenet export -f web`` (:func:`export_web`), the page's
files (``static/``: the ``.sqz`` decoder ``sqz.js``, preprocessing, the app) and where the
page gets ONNX Runtime Web (:mod:`.runtime`)."""

from .folder import WebExport, check_output, export_web
from .runtime import RuntimeDirError
