"""Sources (the book, exchanges, price feeds), their accounts, credentials and asset codes."""

from django.conf import settings
from django.db import models


class Source(models.Model):
    class Kind(models.TextChoices):
        INTERNAL = "internal", "Internal book"
        EXCHANGE = "exchange", "Exchange"
        CUSTODIAN = "custodian", "Custodian"
        PRICE_FEED = "price_feed", "Price feed"

    class Exchange(models.TextChoices):
        NONE = "", "None"
        KRAKEN = "kraken", "Kraken"
        COINBASE = "coinbase", "Coinbase"
        BINANCE = "binance", "Binance"

    code = models.SlugField(max_length=50, unique=True, help_text="short name, e.g. kraken")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    exchange = models.CharField(
        max_length=20,
        choices=Exchange.choices,
        blank=True,
        help_text="the exchange whose export files its accounts take; an exchange or custodian "
        "source that names none takes every exchange's files",
    )
    api_base_url = models.URLField(
        blank=True, help_text="the exchange API's address, if not its public default"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Account(models.Model):
    """One book at a source (a trading account, a sub-account, the firm's internal book)."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="accounts")
    code = models.SlugField(max_length=100, help_text="as it appears in files, e.g. main")
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["source", "code"], name="account_code_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source.code}/{self.code}"


class ExchangeCredential(models.Model):
    """An account's API key and secret, encrypted at rest (key: CREDENTIALS_ENCRYPTION_KEY)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="credential")
    api_key_encrypted = models.TextField()
    secret_encrypted = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"credentials of {self.account}"  # never the values


class AssetAlias(models.Model):
    """An exchange's asset code and the asset it means (XXBT -> BTC). Exchange '' = any source."""

    exchange = models.CharField(max_length=20, blank=True, choices=Source.Exchange.choices)
    code = models.CharField(max_length=40)
    asset = models.CharField(max_length=40)

    class Meta:
        ordering = ["exchange", "code"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "code"], name="asset_alias_unique"),
            models.CheckConstraint(
                condition=~models.Q(code="") & ~models.Q(asset=""), name="asset_alias_not_blank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange or '*'}:{self.code} -> {self.asset}"
