from decimal import Decimal

from django import forms


class CreditAdjustmentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, help_text="Positive grants credits, negative removes them."
    )
    memo = forms.CharField(max_length=500, label="Reason", help_text="Kept in the ledger with your name.")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == Decimal("0"):
            raise forms.ValidationError("Enter a non-zero amount.")
        return amount
