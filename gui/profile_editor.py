"""The form of one storage profile, with a Test button that names the exact problem."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from datayard.core.errors import BucketMissingError, ProfileFieldError
from datayard.core.settings import DEFAULT_BUCKET, Profile
from datayard.core.store.embedded import StoreStatus
from datayard.core.store.profiles import check_store, create_store_bucket
from datayard.core.store.workspace import Workspace

from .notice import Notice
from .rich_text import plain_label
from .workers import Operation, call_in_background

FIELDS = ("name", "endpoint", "bucket", "access_key", "region", "ca_bundle", "secret")


class ProfileEditor(QWidget):
    """Edits one profile; the dialog that owns it decides what is valid and saves."""

    changed = Signal()

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self._operation: Operation | None = None
        self.name = QLineEdit(placeholderText="lab-minio")
        self.endpoint = QLineEdit(placeholderText="https://minio.example.com:9000")
        self.bucket = QLineEdit(placeholderText=DEFAULT_BUCKET)
        self.access_key = QLineEdit()
        self.region = QLineEdit(placeholderText="only if the store needs one")
        self.verify_tls = QCheckBox("Verify the server's TLS certificate")
        self.ca_bundle = QLineEdit(placeholderText="the system's certificate authorities")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._choose_ca_bundle)
        self.secret = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.errors = {field: Notice(reserved=True) for field in FIELDS}

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_bundle)
        ca_row.addWidget(browse)
        rows: list[tuple[str, QWidget | QHBoxLayout, str]] = [
            ("Name:", self.name, "name"),
            ("Endpoint URL:", self.endpoint, "endpoint"),
            ("Bucket:", self.bucket, "bucket"),
            ("Access key:", self.access_key, "access_key"),
            ("Secret key:", self.secret, "secret"),
            ("Region:", self.region, "region"),
            ("", self.verify_tls, ""),
            ("CA bundle:", ca_row, "ca_bundle"),
        ]
        for label, field, key in rows:
            cell = QVBoxLayout()
            cell.setSpacing(2)
            if isinstance(field, QHBoxLayout):
                cell.addLayout(field)
            else:
                cell.addWidget(field)
            if key:
                cell.addWidget(self.errors[key])
            form.addRow(label, cell)

        self.test = QPushButton("Test")
        self.test.setToolTip("Reach the store with these settings, then read and write the bucket")
        self.test.clicked.connect(self._test_or_stop)
        self.create_bucket = QPushButton("Create bucket")
        self.create_bucket.hide()
        self.create_bucket.clicked.connect(self._create_bucket)
        self.result = Notice()
        buttons = QHBoxLayout()
        buttons.addWidget(self.test)
        buttons.addWidget(self.create_bucket)
        buttons.addStretch()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.result)
        layout.addStretch()

        for line in (self.name, self.endpoint, self.bucket, self.access_key, self.region):
            line.textEdited.connect(self._edited)
        for line in (self.ca_bundle, self.secret):
            line.textChanged.connect(self._edited)
        self.verify_tls.toggled.connect(self._edited)

    def load(self, profile: Profile, secret: str, *, stored: bool) -> None:
        """Show ``profile``; a stored one keeps its name (its secret is filed under it)."""
        self._forget_operation()
        self.blockSignals(True)
        self.name.setText(profile.name)
        self.name.setReadOnly(stored)
        self.endpoint.setText(profile.endpoint)
        self.bucket.setText(profile.bucket)
        self.access_key.setText(profile.access_key)
        self.region.setText(profile.region)
        self.verify_tls.setChecked(profile.verify_tls)
        self.ca_bundle.setText(profile.ca_bundle)
        self.secret.setText(secret)
        self.secret.setPlaceholderText(
            "kept in the keyring: type a new one to replace it"
            if stored
            else "stored in the keyring, never on disk"
        )
        self.blockSignals(False)
        self.result.clear()
        self.create_bucket.hide()

    def profile(self) -> Profile:
        return Profile(
            name=self.name.text().strip(),
            endpoint=self.endpoint.text().strip(),
            bucket=self.bucket.text().strip(),
            access_key=self.access_key.text().strip(),
            region=self.region.text().strip(),
            verify_tls=self.verify_tls.isChecked(),
            ca_bundle=self.ca_bundle.text().strip(),
        )

    def show_problem(self, problem: ProfileFieldError | None) -> None:
        for field, notice in self.errors.items():
            if problem is not None and problem.field == field:
                notice.error(str(problem))
            else:
                notice.clear()
        self.test.setEnabled(problem is None or self._operation is not None)

    def _edited(self) -> None:
        self._forget_operation()
        self.result.clear()
        self.create_bucket.hide()
        self.changed.emit()

    def _choose_ca_bundle(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CA bundle", "", "Certificates (*.pem *.crt *.cer);;All files (*)"
        )
        if path:
            self.ca_bundle.setText(path)

    # -- testing ------------------------------------------------------------------

    def _test_or_stop(self) -> None:
        if self._operation is not None:
            self._forget_operation()
            self.result.info("Test stopped.")
            return
        profile, secret = self.profile(), self.secret.text()
        self._run(
            lambda: check_store(self.workspace, profile, secret),
            f"Testing {profile.endpoint}…",
        )

    def _create_bucket(self) -> None:
        profile, secret = self.profile(), self.secret.text()
        self._run(
            lambda: create_store_bucket(self.workspace, profile, secret),
            f"Creating bucket {profile.bucket!r}…",
        )

    def _run(self, work: Callable[[], object], doing: str) -> None:
        self.create_bucket.hide()
        self.result.info(doing)
        self.test.setText("Stop")
        operation = call_in_background(work, self)
        operation.finished.connect(lambda _: self._passed(operation))
        operation.failed.connect(lambda error: self._refused(operation, error))
        self._operation = operation

    def _passed(self, operation: Operation) -> None:
        if operation is not self._operation:
            return
        self._forget_operation()
        profile = self.profile()
        self.result.success(
            f"Connected: {profile.endpoint} answers and the bucket {profile.bucket!r} "
            "can be read and written."
        )

    def _refused(self, operation: Operation, error: Exception) -> None:
        if operation is not self._operation:
            return
        self._forget_operation()
        self.result.error(str(error))
        self.create_bucket.setVisible(isinstance(error, BucketMissingError))

    def _forget_operation(self) -> None:
        """A test still running reports to nobody: its answer is about other values."""
        if self._operation is not None:
            self._operation.cancel()
        self._operation = None
        self.test.setText("Test")


class LocalStoreView(QWidget):
    """The built-in store's profile: made by Datayard, shown but not edited."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.details = plain_label()
        self.details.setWordWrap(True)
        self.status = Notice()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.details)
        layout.addWidget(self.status)
        layout.addStretch()

    def load(self, profile: Profile | None) -> None:
        where = (
            f"Endpoint: {profile.endpoint}\nBucket: {profile.bucket}\n"
            f"Access key: {profile.access_key}"
            if profile
            else "Its endpoint and credentials are created the first time it starts."
        )
        self.details.setText(
            "The built-in store runs on this computer: a private S3 server that Datayard "
            "starts when it is needed, so you can push without any server to set up. "
            f"Its settings are managed by Datayard.\n\n{where}"
        )
        self.status.info("Checking whether it is running…")
        operation = call_in_background(self.workspace.local_status, self)
        operation.finished.connect(self._show_status)

    def _show_status(self, status: StoreStatus) -> None:
        if status.running:
            self.status.success(f"Running at {status.endpoint}; data in {status.data_dir}")
        else:
            self.status.info(f"Not running; data in {status.data_dir}")
