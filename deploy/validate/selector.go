package validate

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// labelSelector converts a *metav1.LabelSelector; nil or empty selects
// nothing here (a policy that selects every pod is not what we ship).
func labelSelector(s any) (labels.Selector, error) {
	ls, ok := s.(*metav1.LabelSelector)
	if !ok || ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
		return nil, fmt.Errorf("empty selector")
	}
	return metav1.LabelSelectorAsSelector(ls)
}
